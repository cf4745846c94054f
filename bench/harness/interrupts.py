"""Interrupt latency at the client: POST /interrupt → `execution_interrupted` on the submitter's WebSocket.

Two kinds of node: one that reports progress (each report is a chance to stop), and a pure-Python loop that
never checks in. A server that checks only between nodes stops the latter when it ends; impasto kills its
worker after `--interrupt-grace` (5 s by default), so that figure includes the grace period. The request is
sent 0.3 s after the node has shown it is running (its first progress report, or its `executing` message),
and the next sample waits until the run has ended.
"""

from __future__ import annotations

import asyncio
import time

from bench.harness.client import BenchError
from bench.harness.context import Round
from bench.harness.workloads import BUSY_NODES, PROGRESS_NODES, LongNode, first_present, long_prompt, names

RUNNING_S = 0.3  # how long the node runs before the interrupt
STARTED_TIMEOUT_S = 60.0
AFTER_S = 60.0  # for the run to end once interrupted (a worker restart included)
PROGRESS_SECONDS = 36_000.0  # what the progress node would run for, uninterrupted


async def interrupt_progress(round_: Round) -> None:
    await _one(round_, "interrupt_progress", PROGRESS_NODES, "progress", PROGRESS_SECONDS, copies=1)


async def interrupt_sync(round_: Round) -> None:
    await _one(round_, "interrupt_sync", BUSY_NODES, "node", round_.plan.busy_seconds, copies=2)


async def _one(
    round_: Round, key: str, candidates: tuple[LongNode, ...], running: str, seconds: float, copies: int
) -> None:
    node = first_present(candidates, round_.classes)
    if node is None:
        kind = "with progress" if running == "progress" else "without progress"
        round_.skip(key, f"the server has no long node {kind} ({names(candidates)})")
        return
    round_.note(key, f"node {node.class_type}")
    api, socket = round_.api, round_.socket
    prompt_id = await api.post_prompt(long_prompt(node, seconds, round_.colors(), copies), socket.client_id)
    await socket.until(running, prompt_id, STARTED_TIMEOUT_S)
    await asyncio.sleep(RUNNING_S)
    interrupted, ended = socket.arrival("interrupted", prompt_id), socket.arrival("end", prompt_id)
    started = time.perf_counter()
    request = asyncio.create_task(api.request("POST", "/interrupt", {"prompt_id": prompt_id}))
    await asyncio.wait({interrupted, ended}, timeout=seconds * copies + AFTER_S, return_when=asyncio.FIRST_COMPLETED)
    answer = await request
    if interrupted.done():
        round_.add(key, (interrupted.result() - started) * 1000)
    elif ended.done():
        ended.result()  # raises ServerGone when the socket was lost
        raise BenchError(f"the run ended without execution_interrupted (POST /interrupt answered {answer.status})")
    else:
        raise BenchError(f"no execution_interrupted within {seconds * copies + AFTER_S:.0f} s")
    await socket.until("end", prompt_id, AFTER_S)
