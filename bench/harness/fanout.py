"""WebSocket fan-out: many viewers connected while prompts go through.

Every server broadcasts a `status` message to every socket on each queue change (a submission, a claim, a
finish), so N viewers and M prompts make a few times N times M messages. The rate is the messages all viewers
received, divided by the time from the first POST to the last arrival at any viewer. The lag is how much
later the slowest viewer got its last message than the quickest one did: the same final broadcast, so the
difference is time spent in the server's fan-out (and in this client, which reads every socket).
"""

from __future__ import annotations

import asyncio
import time

from bench.harness.client import BenchError, Socket
from bench.harness.context import Round
from bench.harness.workloads import TINY_NODES, missing, tiny

QUIET_S = 0.5  # no viewer received anything for this long: the fan-out is over
QUIET_LIMIT_S = 60.0


async def fan_out(round_: Round) -> None:
    reason = missing(TINY_NODES, round_.classes)
    if reason is not None:
        round_.skip("fanout_rate", reason)
        round_.skip("fanout_lag", reason)
        return
    plan = round_.plan
    viewers = await _connect(round_, plan.fanout_clients)
    try:
        await _quiet(viewers)  # the connect-time messages are not counted
        before = [viewer.count for viewer in viewers]
        colors = [round_.colors() for _ in range(plan.fanout_prompts)]
        client_id = round_.socket.client_id
        started = time.perf_counter()
        prompt_ids = await asyncio.gather(*(round_.api.post_prompt(tiny(color), client_id) for color in colors))
        timeout = 60.0 + len(prompt_ids) * 0.5
        await asyncio.gather(*(round_.socket.until("end", prompt_id, timeout) for prompt_id in prompt_ids))
        await _quiet(viewers)
        received = [viewer.count - count for viewer, count in zip(viewers, before, strict=True)]
        if min(received) == 0:
            raise BenchError(f"{received.count(0)} of {len(viewers)} viewers received no status message")
        lasts = [viewer.last_arrival for viewer in viewers]
        round_.add("fanout_rate", sum(received) / (max(lasts) - started))
        round_.add("fanout_lag", (max(lasts) - min(lasts)) * 1000)
        if min(received) != max(received):
            round_.note("fanout_rate", f"viewers received {min(received)} to {max(received)} messages in a round")
    finally:
        await asyncio.gather(*(viewer.close() for viewer in viewers))


async def _connect(round_: Round, count: int) -> list[Socket]:
    """`count` viewers, each with its own client_id; all or none (the opened ones are closed on a failure)."""
    opened = await asyncio.gather(*(Socket.open(round_.api) for _ in range(count)), return_exceptions=True)
    viewers = [socket for socket in opened if isinstance(socket, Socket)]
    failure = next((error for error in opened if isinstance(error, BaseException)), None)
    if failure is not None:
        await asyncio.gather(*(viewer.close() for viewer in viewers))
        raise failure
    return viewers


async def _quiet(viewers: list[Socket]) -> None:
    """Until no viewer has received a message for QUIET_S."""
    deadline = time.perf_counter() + QUIET_LIMIT_S
    while time.perf_counter() < deadline:
        latest = max(viewer.last_arrival for viewer in viewers)
        idle = time.perf_counter() - latest
        if idle >= QUIET_S:
            return
        await asyncio.sleep(QUIET_S - idle)
    raise BenchError(f"the viewers kept receiving messages for {QUIET_LIMIT_S:.0f} s")
