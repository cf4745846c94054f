"""Round trips, the burst and memory: how fast tiny prompts go through, and what the server holds.

A round trip is timed at the client from just before POST /prompt to the arrival of `executing` with
`node: null` for that prompt on a WebSocket opened with the same client_id: what a script waiting for its
result sees.
"""

from __future__ import annotations

import asyncio
import time

from bench.harness import memory
from bench.harness.context import Round
from bench.harness.workloads import TINY_NODES, missing, tiny

RUN_TIMEOUT_S = 60.0


async def run_one(round_: Round, color: int) -> float:
    """Milliseconds from POST to `executing null` of one tiny prompt."""
    started = time.perf_counter()
    prompt_id = await round_.api.post_prompt(tiny(color), round_.socket.client_id)
    ended = await round_.socket.until("end", prompt_id, RUN_TIMEOUT_S)
    return (ended - started) * 1000


async def warm_up(round_: Round) -> None:
    """One untimed run, so the first timed one does not pay for loading the nodes in a fresh worker."""
    if missing(TINY_NODES, round_.classes) is None:
        await run_one(round_, round_.colors())


async def round_trips(round_: Round) -> None:
    reason = missing(TINY_NODES, round_.classes)
    if reason is not None:
        round_.skip("roundtrip", reason)
        round_.skip("cached", reason)
        return
    for _ in range(round_.plan.roundtrips):
        round_.add("roundtrip", await run_one(round_, round_.colors()))
    same = round_.colors()
    await run_one(round_, same)  # computes and caches it once
    for _ in range(round_.plan.roundtrips):
        round_.add("cached", await run_one(round_, same))


async def burst(round_: Round) -> None:
    """N distinct tiny prompts posted at once; prompts/s from the first POST to the last `executing null`."""
    reason = missing(TINY_NODES, round_.classes)
    if reason is not None:
        round_.skip("burst", reason)
        return
    count, client_id = round_.plan.burst, round_.socket.client_id
    colors = [round_.colors() for _ in range(count)]
    started = time.perf_counter()
    prompt_ids = await asyncio.gather(*(round_.api.post_prompt(tiny(color), client_id) for color in colors))
    timeout = RUN_TIMEOUT_S + count * 0.5
    ends = await asyncio.gather(*(round_.socket.until("end", prompt_id, timeout) for prompt_id in prompt_ids))
    round_.add("burst", count / (max(ends) - started))


def record_memory(round_: Round, moment: str) -> None:
    """`rss_<moment>` and `rss_<moment>_tree` from /proc, when the server is a process on this machine."""
    keys = (f"rss_{moment}", f"rss_{moment}_tree")
    if not memory.available():
        reason = "no /proc on this machine"
    else:
        pid = round_.target.pid()
        sizes = memory.rss(pid) if pid is not None else None
        if sizes is not None:
            round_.add(keys[0], sizes.server_mb)
            round_.add(keys[1], sizes.tree_mb)
            return
        reason = "the server is not a process on this machine that /proc shows"
    for key in keys:
        round_.skip(key, reason)


async def settle(seconds: float) -> None:
    """Lets start-up work (a worker loading, caches filling) finish before reading idle memory."""
    await asyncio.sleep(seconds)
