"""Server-side repeats as the store keeps them (http-api.md §7.10): a workflow that re-queues itself.

The store persists a repeat and swaps its current job atomically; what the next run is (its seed values,
whether it is identical to the last) is decided by the server, which owns the node catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class RepeatState(StrEnum):
    ACTIVE = "active"  # a run of it is pending or running, or about to be queued
    IDLE = "idle"  # waiting for a new prompt: the next run would repeat the last completed one exactly
    STOPPED = "stopped"  # ended early: by the user, a failed or cancelled run, or a cleared queue
    FINISHED = "finished"  # ran max_runs times


LIVE_REPEAT_STATES = frozenset({RepeatState.ACTIVE, RepeatState.IDLE})
RECENT_ENDED_REPEATS = 50  # ended repeats listed and kept


@dataclass(frozen=True, slots=True)
class RepeatRecord:
    id: str
    state: RepeatState
    created_ms: int
    runs: int  # runs that ended (completed or failed)
    max_runs: int | None
    current_job: str | None  # the one pending or running job of the repeat
    last_job: str | None  # the last job that ended
    stop_reason: str | None
    spec: dict[str, Any]  # opaque to the store: prompt, extra_data, seed rules, options, last completed digest


class RepeatConflict(Exception):
    """The repeat changed since it was read (another run ended, or it was stopped): nothing was written."""
