"""What one round of measurements on one server works with: the plan, the client, the node classes, and
where the samples go."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bench.harness.client import Api, Socket
from bench.harness.figures import Outcome
from bench.harness.target import Target
from bench.harness.workloads import Colors


class HoldMode(StrEnum):
    """How the pending-queue figures keep their jobs pending."""

    AUTO = "auto"  # the pause endpoint where the server answers it, else a long job in front
    PAUSE = "pause"  # the pause endpoint only (the figures are skipped without one)
    JOB = "job"  # a long job in front on every server, so both hold the queue the same way


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each workload a round runs, and how many rounds."""

    repeats: int  # rounds; each server gets one run of every workload per round
    roundtrips: int  # timed prompts per round, for the distinct and the cached round trip each
    burst: int  # prompts in the burst
    pending_levels: tuple[int, ...]  # queue lengths the request latencies are measured at
    latency_samples: int  # timed requests per round, per request kind and level
    fanout_clients: int
    fanout_prompts: int  # prompts whose queue updates are fanned out to every client
    busy_seconds: float  # how long the node without progress would run if nothing stopped it
    groups: frozenset[str]  # figure groups to measure
    hold: HoldMode = HoldMode.AUTO

    @staticmethod
    def full(groups: frozenset[str]) -> Plan:
        return Plan(5, 20, 300, (1_000, 10_000), 20, 100, 50, 20.0, groups)

    @staticmethod
    def quick(groups: frozenset[str]) -> Plan:
        return Plan(3, 5, 20, (200,), 5, 10, 10, 10.0, groups)


@dataclass(slots=True)
class Round:
    """One server during one round."""

    plan: Plan
    target: Target
    api: Api
    socket: Socket  # the submitter: every prompt the round waits on names its client_id
    classes: set[str]  # node classes in /object_info
    colors: Colors
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def outcome(self, key: str) -> Outcome:
        return self.outcomes.setdefault(key, Outcome())

    def add(self, key: str, *samples: float) -> None:
        self.outcome(key).samples.extend(samples)

    def skip(self, key: str, reason: str) -> None:
        self.outcome(key).skip(reason)

    def note(self, key: str, text: str) -> None:
        self.outcome(key).note(text)
