"""Request latency with a long queue: POST /prompt, GET /queue and GET /api/jobs?limit=200 at N pending.

The queue is held so the pending jobs stay pending: with impasto's pause endpoint when the server answers it,
else behind one long job that reports progress (it sleeps between reports, so it costs the server next to no
CPU); `--hold job` queues behind the job on every server, so both hold the queue the same way.

"POST with N pending" is the POST that makes the N-th pending job, which is then deleted again (untimed), so
every sample sees the same queue and a server whose queue limit is N still accepts it. Afterwards
POST /queue {"clear": true} empties the queue and the hold is released.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from bench.harness.client import BenchError, ServerGone, prompt_id_of
from bench.harness.context import HoldMode, Round
from bench.harness.workloads import FILLER_NODES, PROGRESS_NODES, filler, first_present, long_prompt, missing, names

FILL_CONCURRENCY = 8
HOLD_SECONDS = 36_000.0  # the hold job would run for ten hours; it is interrupted long before
PAUSE = "/api/impasto/queue/pause"
RESUME = "/api/impasto/queue/resume"


@dataclass(slots=True)
class Hold:
    """How the queue is kept from running: paused, or a running job in front (its prompt_id)."""

    paused: bool
    job: str | None = None
    node: str | None = None

    @property
    def described(self) -> str:
        return f"queue paused ({PAUSE})" if self.paused else f"queued behind a long-running job ({self.node})"


async def pending_latency(round_: Round) -> None:
    levels = round_.plan.pending_levels
    keys = [f"{kind}_{level}" for level in levels for kind in ("post", "queue", "jobs")]
    reason = missing(FILLER_NODES, round_.classes)
    hold = None
    try:
        if reason is None:
            hold = await _hold(round_)
        if hold is None:
            reason = reason or f"cannot hold the queue: no {PAUSE} and no node with progress ({names(PROGRESS_NODES)})"
            for key in keys:
                round_.skip(key, reason)
            return
        for key in keys:
            round_.note(key, hold.described)
        pending = 0
        for level in levels:
            pending = await _fill(round_, pending, level - 1)
            await _time_posts(round_, level)
            pending = await _fill(round_, pending, level)
            await _check(round_, hold, level)
            await _time_gets(round_, level)
            await _check(round_, hold, level)
    except BenchError as error:
        if isinstance(error, ServerGone):
            raise
        for key in keys:
            if not round_.outcome(key).samples:
                round_.skip(key, str(error))
    finally:
        if hold is not None:
            await _release(round_, hold)


async def _hold(round_: Round) -> Hold | None:
    if round_.plan.hold is not HoldMode.JOB:
        answer = await round_.api.request("POST", PAUSE)
        if answer.status == 200:
            return Hold(paused=True)
        if round_.plan.hold is HoldMode.PAUSE:
            raise BenchError(f"--hold pause: POST {PAUSE} answered {answer.status}")
    node = first_present(PROGRESS_NODES, round_.classes)
    if node is None:
        return None
    prompt_id = await round_.api.post_prompt(long_prompt(node, HOLD_SECONDS, round_.colors()), round_.socket.client_id)
    await round_.socket.until("progress", prompt_id, 60.0)
    return Hold(paused=False, job=prompt_id, node=node.class_type)


async def _release(round_: Round, hold: Hold) -> None:
    with contextlib.suppress(ServerGone):
        await round_.api.clear_pending()
        if hold.paused:
            await round_.api.request("POST", RESUME)
        elif hold.job is not None:
            await round_.api.request("POST", "/interrupt", {"prompt_id": hold.job})
            await round_.socket.until("end", hold.job, 60.0)


async def _fill(round_: Round, pending: int, target: int) -> int:
    """Posts filler jobs until `target` are pending (a few at a time, as several clients would)."""
    remaining = target - pending
    if remaining <= 0:
        return pending
    queue: asyncio.Queue[int] = asyncio.Queue()
    for _ in range(remaining):
        queue.put_nowait(round_.colors())

    async def poster() -> None:
        while not queue.empty():
            await round_.api.post_prompt(filler(queue.get_nowait()))

    await asyncio.gather(*(poster() for _ in range(min(FILL_CONCURRENCY, remaining))))
    return target


async def _time_posts(round_: Round, level: int) -> None:
    for _ in range(round_.plan.latency_samples):
        elapsed, answer = await round_.api.timed("POST", "/prompt", {"prompt": filler(round_.colors())})
        if answer.status == 429:
            raise BenchError(f"the server refused the {level:,}th pending job (429, queue full)")
        await round_.api.delete_pending([prompt_id_of(answer)])
        round_.add(f"post_{level}", elapsed)


async def _time_gets(round_: Round, level: int) -> None:
    for kind, path in (("queue", "/queue"), ("jobs", "/api/jobs?limit=200")):
        for _ in range(round_.plan.latency_samples):
            elapsed, answer = await round_.api.timed("GET", path)
            if answer.status != 200:
                round_.skip(f"{kind}_{level}", f"GET {path} answered {answer.status}")
                break
            round_.add(f"{kind}_{level}", elapsed)


async def _check(round_: Round, hold: Hold, level: int) -> None:
    """The queue still holds `level` jobs, and nothing has been running them."""
    if hold.job is not None and round_.socket.seen("end", hold.job):
        raise BenchError("the long job that held the queue ended before the measurement did")
    expected = level + (0 if hold.paused else 1)
    remaining = await round_.api.queue_remaining()
    if remaining != expected:
        raise BenchError(f"expected {expected:,} queued jobs, the server reports {remaining:,}")
