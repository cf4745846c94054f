"""Rounds: every server runs every workload once per round, servers in turn (A B A B ...), so a machine that
slows down for a while slows both down alike and the ratios stay honest.

A step that cannot measure on a server (a node missing, an answer it cannot use) skips its figures with the
reason and the round goes on. A server that stops answering is dropped: its remaining figures are skipped
with that reason, the other server carries on, and everything measured so far is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from bench.harness import runs
from bench.harness.client import Api, BenchError, ServerGone, Socket
from bench.harness.context import Plan, Round
from bench.harness.fanout import fan_out
from bench.harness.figures import Figure, Outcome, catalog
from bench.harness.interrupts import interrupt_progress, interrupt_sync
from bench.harness.pending import pending_latency
from bench.harness.target import StartError, Target, TargetSpec
from bench.harness.workloads import Colors

Progress = Callable[[str], None]


class Unreachable(Exception):
    """A server could not be reached or started before anything was measured."""


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    group: str
    keys: tuple[str, ...]  # the figures it produces (pending ones are added per level)
    run: Callable[[Round], Awaitable[None]]


async def _idle_memory(round_: Round) -> None:
    await runs.settle(1.0)
    runs.record_memory(round_, "idle")
    if "burst" not in round_.plan.groups:
        for key in ("rss_burst", "rss_burst_tree"):
            round_.skip(key, "the burst was not run (--only)")


async def _burst(round_: Round) -> None:
    await runs.burst(round_)
    if "memory" in round_.plan.groups:
        runs.record_memory(round_, "burst")


STEPS = (
    Step("memory, idle", "memory", ("rss_idle", "rss_idle_tree"), _idle_memory),
    Step("round trips", "roundtrip", ("roundtrip", "cached"), runs.round_trips),
    Step("burst", "burst", ("burst", "rss_burst", "rss_burst_tree"), _burst),
    Step("fan-out", "fanout", ("fanout_rate", "fanout_lag"), fan_out),
    Step("pending queue", "pending", (), pending_latency),
    Step("interrupt, progress node", "interrupt", ("interrupt_progress",), interrupt_progress),
    Step("interrupt, node without progress", "interrupt", ("interrupt_sync",), interrupt_sync),
)


@dataclass(slots=True)
class Results:
    """Everything measured so far; complete or not, it is what the table and the JSON file show."""

    plan: Plan
    specs: list[TargetSpec]
    figures: list[Figure]
    outcomes: dict[str, dict[str, Outcome]]  # label → figure key → outcome
    gone: dict[str, str] = field(default_factory=dict)  # label → why it stopped answering
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    finished: str | None = None
    rounds_done: int = 0

    @classmethod
    def empty(cls, plan: Plan, specs: list[TargetSpec]) -> Results:
        figures = [figure for figure in catalog(plan.pending_levels) if figure.group in plan.groups]
        outcomes = {spec.label: {figure.key: Outcome() for figure in figures} for spec in specs}
        return cls(plan, specs, figures, outcomes)


async def run(results: Results, start_timeout: float, progress: Progress) -> None:
    """Fills `results` round by round; raises Unreachable when a server is not there at the start."""
    plan = results.plan
    targets = [Target(spec, start_timeout) for spec in results.specs]
    connector = aiohttp.TCPConnector(limit=plan.fanout_clients + plan.burst + 50)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            for target in targets:
                if target.spec.url is not None:
                    try:
                        await target.check(session)
                    except BenchError as error:
                        raise Unreachable(f"cannot reach {target.spec.url}: {error}") from None
            for number in range(1, plan.repeats + 1):
                for target in targets:
                    if target.label not in results.gone:
                        progress(f"round {number}/{plan.repeats}, {target.label}: starting")
                        await _round(results, target, session, number, progress)
                results.rounds_done = number
    finally:
        for target in targets:
            await target.stop()
            target.remove_log()
        results.finished = datetime.now(UTC).isoformat(timespec="seconds")


async def _round(
    results: Results, target: Target, session: aiohttp.ClientSession, number: int, progress: Progress
) -> None:
    plan, outcomes = results.plan, results.outcomes[target.label]
    try:
        try:
            startup = await target.start(session)
        except StartError as error:
            if number == 1:
                raise Unreachable(f"{target.spec.shown} did not start: {error}") from None
            _drop(results, target, f"did not start in round {number}: {error}")
            return
        except BenchError as error:
            _drop(results, target, f"stopped answering before round {number}: {error}")
            return
        if "startup" in plan.groups:
            if startup is None:
                outcomes["startup"].skip("the server was already running (--url)")
            else:
                outcomes["startup"].samples.append(startup)
        await _steps(results, target, session, number, progress)
    finally:
        await target.stop()


async def _steps(
    results: Results, target: Target, session: aiohttp.ClientSession, number: int, progress: Progress
) -> None:
    plan, outcomes = results.plan, results.outcomes[target.label]
    api = Api(target.url, session)
    step_name = "connecting"
    socket: Socket | None = None
    try:
        classes = set(await api.get_json("/object_info"))
        socket = await Socket.open(api)
        round_ = Round(plan, target, api, socket, classes, Colors(), outcomes)
        step_name = "warm-up"
        await runs.warm_up(round_)
        for step in STEPS:
            if step.group not in plan.groups:
                continue
            step_name = step.name
            progress(f"round {number}/{plan.repeats}, {target.label}: {step.name}")
            try:
                await step.run(round_)
            except ServerGone:
                raise
            except BenchError as error:
                for key in _keys(step, plan):
                    if key in outcomes:
                        outcomes[key].skip(str(error))
                await _recover(api)
    except ServerGone as error:
        why = target.exited() or str(error)
        _drop(results, target, f"stopped answering during {step_name} in round {number}: {why}")
    except BenchError as error:  # before the first step: /object_info or the socket
        _drop(results, target, f"unusable in round {number} ({step_name}): {error}")
    finally:
        if socket is not None:
            await socket.close()


def _keys(step: Step, plan: Plan) -> tuple[str, ...]:
    if step.group == "pending":
        return tuple(f"{kind}_{level}" for level in plan.pending_levels for kind in ("post", "queue", "jobs"))
    return step.keys


async def _recover(api: Api) -> None:
    """After a failed step: nothing of it stays queued or running to disturb the next one."""
    with contextlib.suppress(BenchError):
        await api.clear_pending()
        await api.request("POST", "/interrupt")
        deadline = time.perf_counter() + 60.0
        while await api.queue_remaining() and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)


def _drop(results: Results, target: Target, why: str) -> None:
    """Marks the server gone; every figure it has not measured yet is skipped with the reason."""
    results.gone[target.label] = why
    for outcome in results.outcomes[target.label].values():
        if outcome.samples:
            outcome.note(f"later rounds missing: the server {why}")
        else:
            outcome.skip(f"not measured: the server {why}")
