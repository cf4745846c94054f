"""The dispatcher: hands pending jobs to idle workers and turns what workers report into stored state and
socket messages. Every job state change is committed to the store before it is announced.

Stopping a job: a cooperative cancel reaches the job's token in its worker; if the job has not ended
`interrupt_grace` seconds later, the worker is killed (escalation). A force stop kills it at once. Either
way the server records the job from the events it received (so history stays right when a worker dies),
sends the closing messages itself, and the executor starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from impasto.protocol.events import EventType, NodeState
from impasto.queue import AnswerFor, Job, JobResult, JobState, JobStore, NewJob
from impasto.server import scheduling
from impasto.server.hub import Hub, QueueCounts
from impasto.server.status import read_counts
from impasto.server.store_calls import short_call
from impasto.workers.executor import Executor
from impasto.workers.messages import CancelAnswer, ClientMessage, JobEvent, JobFinished, JobPreview, JobSpec, WorkerGone

log = logging.getLogger(__name__)

_FINAL_STATES = {
    "success": JobState.COMPLETED,
    "error": JobState.FAILED,
    "interrupted": JobState.CANCELLED,
    "removed": JobState.REMOVED,  # cancelled after its claim, before it started: no history entry
}
_RECORDED = {EventType.EXECUTION_START.value, EventType.EXECUTION_CACHED.value}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Track:
    """What the server saw of a running job: enough to write its history if its worker dies."""

    job: Job
    messages: list[list[Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    node: str | None = None
    stop_reason: str | None = None  # set when the server kills the worker on purpose
    grace: asyncio.TimerHandle | None = None
    limit: asyncio.TimerHandle | None = None  # --job-time-limit
    ended: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(frozen=True, slots=True)
class _Ending:
    """How a job ended, as the dispatcher records it."""

    job_id: str
    state: JobState
    outputs: dict[str, Any]
    meta: dict[str, Any]
    messages: list[list[Any]]
    stop_reason: str | None

    @classmethod
    def of(cls, report: JobFinished) -> _Ending:
        state = _FINAL_STATES.get(report.status, JobState.FAILED)
        reasons = {JobState.CANCELLED: "interrupted", JobState.FAILED: "error", JobState.REMOVED: "removed"}
        return cls(report.job_id, state, report.outputs, report.meta, report.messages, reasons.get(state))


@dataclass(frozen=True, slots=True)
class _Seen:
    """A job event in the inbox already observed for the job's record (`_observe`), not yet delivered."""

    event: JobEvent


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A job end in the inbox already recorded in the store, its worker's next job handed out, not yet announced."""

    announce: Callable[[], None]


class Dispatcher:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        hub: Hub,
        *,
        interrupt_grace: float | Callable[[], float] = 5.0,
        job_time_limit: float | None = None,
        heavy_inputs: Callable[[dict[str, Any]], frozenset[str]] | None = None,
        noop_repeat_interval: float = 0.0,
    ) -> None:
        self.store = store
        self.executor = executor
        self.hub = hub
        # A number, or where to read it at each interrupt (the user's setting may change while running).
        self.interrupt_grace = interrupt_grace
        self.job_time_limit = job_time_limit
        self.sensitive: dict[str, dict[str, str]] = {}  # job id -> auth values, in memory only
        self._wake = asyncio.Event()
        self._cancel_after_start: set[str] = set()  # cancelled while their claim was in flight
        self._cancel_outcomes: dict[str, list[asyncio.Future[bool]]] = {}  # job -> callers of `cancel` waiting
        self._running: dict[str, _Track] = {}
        self._reserved: dict[str, int] = {}  # workers with a claim in flight -> the kick count when reserved
        self._heavy = heavy_inputs
        self._warm: dict[str, frozenset[str]] = {}  # worker -> heavy inputs of its last completed job
        self._skips: dict[str, int] = {}  # pending job -> times a free worker passed it over
        # No-op repeat pacing (execution.md §8.5): the frontend's instant loop re-submits an identical prompt as
        # soon as the queue empties; such a job starts no earlier than this long after its client's last success.
        self.noop_repeat_interval = noop_repeat_interval
        # client id -> (prompt digest, monotonic end, job id) of its last successful job, for pacing and folding
        self._last_success: dict[str, tuple[str, float, str]] = {}
        self._not_before: dict[str, float] = {}  # paced pending job -> monotonic time it may start
        self._held_timer: asyncio.TimerHandle | None = None
        self._kicks = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Worker messages not handled yet, in arrival order; `_draining` while one is handled across an await.
        self._inbox: collections.deque[Any] = collections.deque()
        self._draining = False
        self._drain_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.executor.listen(self.pump)  # a worker's report is handled in the loop turn that reads it
        self._tasks = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._message_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def kick(self) -> None:
        """Something changed (a submission, a finished job, resume): look for work."""
        self._kicks += 1
        self._wake.set()

    def current_node(self, job_id: str) -> str | None:
        """The node the job is executing now, as its worker last reported."""
        track = self._running.get(job_id)
        return None if track is None else track.node

    def interrupt(self, job_id: str) -> None:
        """Deliver a recorded cancel to the job's worker, and kill the worker if the job ignores it."""
        track = self._running.get(job_id)
        if track is None:
            # Claimed by a store call in a thread that has not come back yet (its row was read before this
            # cancel): delivered when the job is handed to its worker.
            self._cancel_after_start.add(job_id)
            return
        self.executor.interrupt(job_id)
        if track.grace is None:
            track.grace = asyncio.get_running_loop().call_later(self._grace(), self._kill, job_id, "escalated")

    async def cancel(self, job_id: str) -> bool:
        """`interrupt` a job recorded as running, and learn what it did: True once the job is sure to end
        cancelled (its worker accepted the cancel, or it ended cancelled), False when it ended otherwise first
        (it finished as the cancel travelled). Waits at most the grace period and a little more; True then,
        since the worker is being killed."""
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._cancel_outcomes.setdefault(job_id, []).append(outcome)
        try:
            if job_id not in self._running:
                # Claimed and not started yet, or ended since the caller read its row: the store knows which.
                job = await short_call(self.store, functools.partial(self.store.get, job_id))
                if job is None or job.state is not JobState.IN_PROGRESS:
                    return job is not None and job.state in (JobState.CANCELLED, JobState.REMOVED)
            self.interrupt(job_id)
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(outcome), self._grace() + 5.0)
            return True
        finally:
            waiting = self._cancel_outcomes.get(job_id, [])
            if outcome in waiting:
                waiting.remove(outcome)
            if not waiting:
                self._cancel_outcomes.pop(job_id, None)

    def _settle_cancels(self, job_id: str, cancelled: bool) -> None:
        for outcome in self._cancel_outcomes.pop(job_id, []):
            if not outcome.done():
                outcome.set_result(cancelled)

    def _grace(self) -> float:
        return self.interrupt_grace() if callable(self.interrupt_grace) else self.interrupt_grace

    async def force_stop(self, job_id: str) -> bool:
        """Kill the job's worker now; returns once the job is recorded as interrupted (False: not running)."""
        track = self._running.get(job_id)
        if track is None:
            return False
        killed = self._kill(job_id, "force_stopped")
        await asyncio.shield(track.ended)
        return killed

    async def wait_finished(self, job_id: str, timeout: float) -> None:
        """Until the running job is recorded as terminal, or the timeout passes."""
        track = self._running.get(job_id)
        if track is not None and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(track.ended), timeout)

    def _kill(self, job_id: str, reason: str) -> bool:
        """Kills the running job's worker; whether this call did (False: not running, or already killed, or its
        worker already reported the end, which then records the job as usual)."""
        track = self._running.get(job_id)
        if track is None or track.stop_reason is not None:
            return False
        log.warning("prompt %s: stopping its worker (%s)", job_id, reason)
        track.stop_reason = reason
        if self.executor.interrupt(job_id, force=True):
            return True
        track.stop_reason = None  # the job's end is already on its way: nothing to kill, nothing to drop
        return False

    async def enqueue(
        self, job: NewJob, *, front: bool = False, max_pending: int | None = None, answer: AnswerFor | None = None
    ) -> Job:
        """Queue a job (`JobStore.add`), and when a worker is free, claim its next job in the same store call.

        Raises what `add` raises (`DuplicateJobError`, `QueueFullError`), with nothing queued.
        """
        self.pump()
        not_before = self._paced_until(job.client_id, job.extra_data, job.prompt, job.outputs_to_execute)
        if not_before is not None:
            self._not_before[job.id] = not_before
        worker_id = self._reserve()

        def add_and_claim() -> tuple[Job, QueueCounts, tuple[Job, QueueCounts] | None]:
            with self.store.transaction():  # one commit for both
                added = self.store.add(job, front=front, max_pending=max_pending, answer=answer)
                counts = read_counts(self.store)
                return added, counts, None if worker_id is None else self._claim(worker_id, counts)

        try:
            added, counts, claimed = await short_call(self.store, add_and_claim)
        except BaseException:
            self._not_before.pop(job.id, None)
            self._release(worker_id, None)
            raise
        # The worker starts first, the sockets learn of it next. The job claimed is most often the one just added,
        # whose extra_data the worker then gets as the text the store was given (see JobSpec).
        extra_json = job.extra_data_json if claimed is not None and claimed[0].seq == added.seq else None
        started = self._hand_over(worker_id, claimed, extra_json)
        self.hub.status(counts)
        if started is not None:
            self._announce_start(*started)
        if worker_id is None:
            self.kick()  # every worker was busy or held: the claim loop looks again when one is freed
        return added

    def _reserve(self) -> str | None:
        """A free worker, held for one claim so that no other claim hands it a second job."""
        for worker_id in self.executor.idle_workers():
            if worker_id not in self._reserved:
                self._reserved[worker_id] = self._kicks
                return worker_id
        return None

    def _release(self, worker_id: str | None, claimed: tuple[Job, QueueCounts] | None) -> None:
        """End a reservation: start the claimed job on the worker; without one, look again if kicked meanwhile."""
        started = self._hand_over(worker_id, claimed)
        if started is not None:
            self._announce_start(*started)

    def _hand_over(
        self, worker_id: str | None, claimed: tuple[Job, QueueCounts] | None, extra_json: str | None = None
    ) -> tuple[Job, QueueCounts] | None:
        """End a reservation: hand the claimed job to the worker (returned, for `_announce_start`); without one,
        look again if kicked meanwhile. `extra_json`: the claimed job's extra_data as JSON text, if known."""
        if worker_id is None:
            return None
        kicks = self._reserved.pop(worker_id)
        if claimed is not None:
            self._start(worker_id, claimed[0], extra_json)
            return claimed
        if kicks != self._kicks:
            self.kick()  # a change while the worker was held found it busy: its claim may have come too early
        else:
            self._kick_when_held_jobs_may_start()
        return None

    async def _claim_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (worker_id := self._reserve()) is not None:
                try:
                    claimed = await short_call(self.store, functools.partial(self._claim, worker_id, None))
                except BaseException:
                    self._release(worker_id, None)
                    raise
                self._release(worker_id, claimed)
                if claimed is None:
                    break

    def _start(self, worker_id: str, job: Job, extra_json: str | None = None) -> None:
        """Hand a claimed job to its worker, with the cancel that may have arrived meanwhile."""
        self._skips.pop(job.id, None)
        self._not_before.pop(job.id, None)
        track = self._running[job.id] = _Track(job)
        if self.job_time_limit is not None:
            loop = asyncio.get_running_loop()
            track.limit = loop.call_later(self.job_time_limit, self._kill, job.id, "time_limit")
        extra = {} if extra_json is not None else job.extra_data
        spec = JobSpec(job.id, job.prompt, job.outputs_to_execute, extra, self.sensitive.get(job.id, {}), extra_json)
        self.executor.submit(worker_id, spec)
        if job.cancel_requested or job.id in self._cancel_after_start:
            self._cancel_after_start.discard(job.id)
            self.interrupt(job.id)

    def _announce_start(self, job: Job, counts: QueueCounts) -> None:
        """A claim, to the sockets: the `status` it changed; its run's events follow."""
        self.hub.status(counts)
        self.hub.run_started(job.id, job.client_id)

    def _claim(self, worker_id: str, counts: QueueCounts | None) -> tuple[Job, QueueCounts] | None:
        """Claim the worker's next job, with the counts its `status` announces. `counts`: the queue's counts read
        in the caller's transaction, if it read them (nothing pending or a paused queue then tries no claim, and
        a claim's counts follow from them without reading them again). It may run in a thread: it only reads
        the dispatcher's dicts (the event loop alone changes them)."""
        if counts is not None and (counts.pending == 0 or counts.paused):
            return None
        others = frozenset().union(*(keys for w, keys in list(self._warm.items()) if w != worker_id))
        now = time.monotonic()
        held = frozenset(job_id for job_id, at in list(self._not_before.items()) if at > now)
        if not held and (self._heavy is None or not others):
            job = self.store.claim_next(worker_id, now_ms())  # nothing to choose: strict run order
        else:
            mine = self._warm.get(worker_id, frozenset())
            choose = functools.partial(self._choose, mine, others, held)
            job = self.store.claim_next(worker_id, now_ms(), look_ahead=scheduling.LOOK_AHEAD, choose=choose)
        if job is None:
            return None
        after = (
            read_counts(self.store)
            if counts is None
            else replace(counts, pending=counts.pending - 1, running=counts.running + 1)
        )
        return job, after

    def _choose(
        self, mine: frozenset[str], others: frozenset[str], held: frozenset[str], candidates: list[Job]
    ) -> int | None:
        """Skip paced jobs still waiting; among the rest prefer one whose models this worker holds."""
        free = [index for index, job in enumerate(candidates) if job.id not in held]
        if not free:
            return None
        if self._heavy is None or not others:
            return free[0]
        jobs = [candidates[index] for index in free]
        head = jobs[0].id
        pick = scheduling.pick([self._heavy(job.prompt) for job in jobs], mine, others, self._skips.get(head, 0))
        if pick > 0:
            self._skips[head] = self._skips.get(head, 0) + 1
        return free[pick]

    def _paced_until(
        self, client_id: str | None, extra_data: dict[str, Any], prompt: dict[str, Any], outputs: list[str]
    ) -> float | None:
        """When a frontend re-submission of its client's last successful prompt may start (None: at once)."""
        if self.noop_repeat_interval <= 0 or client_id is None:
            return None
        if extra_data.get("comfy_usage_source") != FRONTEND_SOURCE or client_id not in self._last_success:
            return None
        digest, ended, _ = self._last_success[client_id]
        if _prompt_digest(prompt, outputs) != digest:
            return None  # a changed parameter runs at once
        at = ended + self.noop_repeat_interval
        return at if at > time.monotonic() else None

    def _kick_when_held_jobs_may_start(self) -> None:
        now = time.monotonic()
        self._not_before = {job_id: at for job_id, at in self._not_before.items() if at > now}
        if not self._not_before:
            return
        delay = min(self._not_before.values()) - now
        if self._held_timer is not None:
            self._held_timer.cancel()
        self._held_timer = asyncio.get_running_loop().call_later(delay + 0.001, self.kick)

    async def _message_loop(self) -> None:
        async for item in self.executor.messages():
            self._inbox.append(item)
            await self._drain()

    def pump(self) -> None:
        """Handle what the workers have reported, now. While submissions keep the event loop busy, one turn of
        it lasts as long as a hundred requests, and a worker's end report read at the next turn would leave
        the worker idle that long: each submission calls this first, so the report is handled, and the next
        job handed out, between two requests."""
        if self._draining:
            return  # messages are being handled (across an await, or this is a call from their handling)
        self._draining = True
        try:
            self._inbox.extend(self.executor.poll())
            self._record_ends()
            while self._inbox:
                try:
                    handled = self._handle_now(self._inbox[0])
                except Exception:
                    log.exception("could not handle a worker message %s", type(self._inbox[0]).__name__)
                    handled = True
                if not handled:
                    break
                self._inbox.popleft()
        finally:
            self._draining = False
        if self._inbox and (self._drain_task is None or self._drain_task.done()):
            self._drain_task = asyncio.create_task(self._drain())  # the rest needs awaiting

    def _record_ends(self) -> None:
        """Record the job ends in the inbox, and hand their workers their next jobs, before anything in it is
        announced: a worker then waits for the store alone, not for the dozen socket messages of the job it ended
        (in a burst it otherwise idled about as long as it computed). The ends are announced in their turn, after
        the events that precede them, so the sockets see the same messages in the same order. Stops at the first
        message that needs awaiting: what follows it is handled after it, in order."""
        if not any(isinstance(item, JobFinished) for item in self._inbox):
            return
        for index in range(len(self._inbox)):
            item = self._inbox[index]
            if isinstance(item, JobEvent):
                track = self._running.get(item.job_id)
                if track is not None and track.stop_reason is None:
                    self._observe(track, item)  # its end tells whether a node ran
                    self._inbox[index] = _Seen(item)
            elif isinstance(item, JobFinished):
                track = self._running.get(item.job_id)
                if track is None or track.stop_reason is not None:
                    return  # not running, or being killed: recorded in its turn
                recorded = self._record_now(_Ending.of(item))
                if recorded is None:
                    return  # another thread holds the store: recorded in its turn
                self._inbox[index] = recorded
            elif not isinstance(item, _Seen | _Recorded | JobPreview | ClientMessage | CancelAnswer):
                return

    async def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while self._inbox:
                item = self._inbox[0]
                try:
                    if not self._handle_now(item):
                        await self._handle(item)
                except Exception:
                    log.exception("could not handle a worker message %s", type(item).__name__)
                self._inbox.popleft()
        finally:
            self._draining = False

    def _handle_now(self, item: Any) -> bool:
        """Handle a worker message without waiting; False (nothing done) when it needs `_handle`."""
        if isinstance(item, JobEvent | _Seen):
            event = item.event if isinstance(item, _Seen) else item
            track = self._running.get(event.job_id)
            if track is None or track.stop_reason is not None:
                return True  # a job being killed: nothing more of it is delivered
            if isinstance(item, JobEvent):
                self._observe(track, event)
            self.hub.run_event(event.job_id, event.type, event.data)
        elif isinstance(item, _Recorded):
            item.announce()
        elif isinstance(item, JobPreview):
            track = self._running.get(item.job_id)
            if track is not None and track.stop_reason is None:
                self.hub.run_preview(item.job_id, item.node_id, item.image_format, item.image)
        elif isinstance(item, ClientMessage):
            track = self._running.get(item.job_id) if item.job_id is not None else None
            if track is None or track.stop_reason is None:  # nothing more of a job being killed is delivered
                self.hub.send_custom(item.event, item.data, item.sid)
        elif isinstance(item, JobFinished):
            # Recorded even when the server has just killed its worker: the job ended before the kill landed,
            # and the worker's exit then names no job, so this report is the only one that ends it.
            if item.job_id not in self._running:
                return True
            return self._finish_now(_Ending.of(item))
        elif isinstance(item, CancelAnswer):
            if item.accepted:  # the job ends cancelled; a refusal is settled by the job's own end, which follows
                self._settle_cancels(item.job_id, True)
        elif isinstance(item, WorkerGone):
            return False
        else:
            self.kick()
        return True

    async def _handle(self, item: Any) -> None:
        if isinstance(item, JobFinished):
            if item.job_id in self._running:
                await self._finish(_Ending.of(item))
        elif isinstance(item, WorkerGone):
            self._warm.pop(item.worker_id, None)  # a fresh worker holds nothing
            if item.job_id is not None and item.job_id in self._running:
                await self._worker_gone(item)
            self.kick()

    @staticmethod
    def _observe(track: _Track, event: JobEvent) -> None:
        data = event.data
        if event.type in _RECORDED:
            track.messages.append([event.type, dict(data)])
        elif event.type == EventType.EXECUTING.value and data.get("node") is not None:
            track.node = str(data["node"])
        elif event.type == EventType.EXECUTED.value and data.get("output") is not None:
            node = str(data.get("node"))
            track.outputs[node] = data["output"]
            track.meta[node] = {
                "node_id": node,
                "display_node": data.get("display_node", node),
                "parent_node": None,
                "real_node_id": node,
            }
        elif event.type == EventType.PROGRESS_STATE.value:
            for node_id, state in data.get("nodes", {}).items():
                if state.get("state") == NodeState.FINISHED.value and node_id not in track.finished:
                    track.finished.append(node_id)

    async def _worker_gone(self, gone: WorkerGone) -> None:
        """The job's worker exited: killed on purpose (interrupted), or crashed (failed)."""
        job_id = gone.job_id
        assert job_id is not None
        track = self._running[job_id]
        node = track.node
        real = node.split(".", 1)[0] if node is not None else None
        node_type = track.job.prompt.get(real, {}).get("class_type") if real is not None else None
        if track.stop_reason is not None:
            data: dict[str, Any] = {
                "prompt_id": job_id,
                "node_id": real,
                "node_type": node_type,
                "executed": list(track.finished),
                "timestamp": now_ms(),
            }
            event, state = EventType.EXECUTION_INTERRUPTED.value, JobState.CANCELLED
        else:
            data = {
                "prompt_id": job_id,
                "node_id": real,
                "node_type": node_type,
                "executed": list(track.finished),
                "exception_message": (
                    f"The worker stopped answering and was killed ({_exit_text(gone.exitcode)}).\n"
                    if gone.unresponsive
                    else f"The worker process exited unexpectedly ({_exit_text(gone.exitcode)}).\n"
                ),
                "exception_type": "impasto.WorkerUnresponsive" if gone.unresponsive else "impasto.WorkerCrashed",
                "traceback": [],
                "current_inputs": {},
                "current_outputs": list(track.job.prompt),
                "timestamp": now_ms(),
            }
            event, state = EventType.EXECUTION_ERROR.value, JobState.FAILED
        self.hub.run_event(job_id, event, data)
        messages = [*track.messages, [event, data]]
        await self._finish(
            _Ending(job_id, state, track.outputs, track.meta, messages, track.stop_reason or "worker_crashed")
        )

    def _success_of(self, job_id: str) -> tuple[str, str, bool] | None:
        """(client id, prompt digest, whether no node executed) of a running job that has a client."""
        track = self._running.get(job_id)
        if track is None or not track.job.client_id:
            return None
        job = track.job
        assert job.client_id is not None
        return job.client_id, _prompt_digest(job.prompt, job.outputs_to_execute), track.node is None

    async def _finish(self, end: _Ending) -> None:
        call, done = self._finishing(end)
        try:
            outcome = await short_call(self.store, call)
        except BaseException:
            done(None)
            raise
        done(outcome)()

    def _finish_now(self, end: _Ending) -> bool:
        """`_finish` with the store call made in place; False, with nothing done, while another thread uses
        the store."""
        recorded = self._record_now(end)
        if recorded is None:
            return False
        recorded.announce()
        return True

    def _record_now(self, end: _Ending) -> _Recorded | None:
        """Record a job's end in place and hand its worker the next job; returns what is left to announce (None,
        with nothing done, while another thread uses the store)."""
        with self.store.uncontended() as free:
            if not free:
                return None
            call, done = self._finishing(end)
            try:
                outcome = call()
            except BaseException:
                done(None)
                raise
        return _Recorded(done(outcome))

    def _finishing(
        self, end: _Ending
    ) -> tuple[
        Callable[[], tuple[QueueCounts, tuple[Job, QueueCounts] | None]],
        Callable[[tuple[QueueCounts, tuple[Job, QueueCounts] | None] | None], Callable[[], None]],
    ]:
        """A job's end: the store call that records it (and claims the freed worker's next job), and what
        follows it, given the call's outcome (None when it failed): it notes the end, hands the claimed job to its
        worker and returns what announces both, the end first."""
        job_id, state = end.job_id, end.state
        status_str = None if state is JobState.REMOVED else ("success" if state is JobState.COMPLETED else "error")
        success = self._success_of(job_id) if state is JobState.COMPLETED else None
        fold_into = None
        if success is not None:
            client_id, digest, executed_nothing = success
            previous = self._last_success.get(client_id)
            if executed_nothing and previous is not None and previous[0] == digest:
                fold_into = previous[2]  # a no-op repeat (execution.md §8.5)
        result = JobResult(state, end.outputs, end.meta, end.messages, status_str, now_ms(), end.stop_reason, fold_into)
        worker_id = self._reserve()  # the worker that ran this job, unless it died

        def finish_and_claim() -> tuple[QueueCounts, tuple[Job, QueueCounts] | None]:
            # One store call and one commit: record the job, then claim the next one for the worker it freed.
            with self.store.transaction():
                self.store.finish(job_id, result)
                counts = read_counts(self.store)
                return counts, None if worker_id is None else self._claim(worker_id, counts)

        def done(outcome: tuple[QueueCounts, tuple[Job, QueueCounts] | None] | None) -> Callable[[], None]:
            if outcome is None:
                self._release(worker_id, None)
                return _nothing
            counts, claimed = outcome
            self._noted(job_id, state, success)
            started = self._hand_over(worker_id, claimed)
            if worker_id is None:
                self.kick()

            def announce() -> None:
                self._announce_end(job_id, state, counts)
                if started is not None:
                    self._announce_start(*started)

            return announce

        return finish_and_claim, done

    def _noted(self, job_id: str, state: JobState, success: tuple[str, str, bool] | None) -> None:
        """What the dispatcher keeps of a job whose end the store recorded."""
        track = self._running.get(job_id)
        if track is not None and state is JobState.COMPLETED:
            done = track.job
            if self._heavy is not None and done.worker_id:
                self._warm[done.worker_id] = self._heavy(done.prompt)
        if success is not None:
            client_id, digest, _ = success
            self._last_success.pop(client_id, None)  # re-inserted last: the dict stays in order of use
            self._last_success[client_id] = (digest, time.monotonic(), job_id)
            if len(self._last_success) > _CLIENTS_REMEMBERED:
                del self._last_success[next(iter(self._last_success))]
        self.sensitive.pop(job_id, None)
        self._cancel_after_start.discard(job_id)

    def _announce_end(self, job_id: str, state: JobState, counts: QueueCounts) -> None:
        """The recorded end of a job, to its callers and sockets: the final `status`, then `executing null`."""
        self._settle_cancels(job_id, state in (JobState.CANCELLED, JobState.REMOVED))
        track = self._running.pop(job_id, None)
        self.hub.status(counts)
        self.hub.run_finished(job_id, ended=state is not JobState.REMOVED)
        if track is not None:
            for timer in (track.grace, track.limit):
                if timer is not None:
                    timer.cancel()
            if not track.ended.done():
                track.ended.set_result(None)


def _nothing() -> None:
    pass


_CLIENTS_REMEMBERED = 10_000  # clients whose last successful job is kept for pacing and folding
FRONTEND_SOURCE = "comfyui-frontend"  # extra_data.comfy_usage_source of the official frontend's submissions


def _prompt_digest(prompt: dict[str, Any], outputs: list[str]) -> str:
    """What makes two submissions the same run: the prompt without its `_meta` titles, and its outputs.

    Encoded by orjson with sorted keys, and by the standard library where orjson refuses (integers beyond 64 bits,
    non-string keys). orjson writes a NaN as null, so the two then match: harmless here, where the digest only
    paces a client's re-submissions and folds its runs that executed nothing."""
    bare = {
        node_id: {k: v for k, v in node.items() if k != "_meta"} if isinstance(node, dict) else node
        for node_id, node in prompt.items()
    }
    shape = [bare, sorted(outputs)]
    try:
        text = orjson.dumps(shape, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(text).hexdigest()


def _exit_text(exitcode: int | None) -> str:
    if exitcode is None:
        return "exit code unknown"
    if exitcode < 0:
        return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
