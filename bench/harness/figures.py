"""The figures the harness reports, and the samples each server gave for them.

A figure is named once here (key, title, unit, which direction is better) so the runner, the table and the
JSON file agree. Samples from every round pool into one `Outcome` per figure and server; its summary is the
median with the minimum and maximum.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from enum import StrEnum


class Better(StrEnum):
    LOWER = "lower"  # a latency, a memory size
    HIGHER = "higher"  # a rate


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    title: str
    unit: str
    better: Better
    group: str  # what `--only` selects by


@dataclass(frozen=True, slots=True)
class Summary:
    median: float
    low: float
    high: float
    count: int


@dataclass(slots=True)
class Outcome:
    """Every sample one server gave for one figure, and why it gave none when it did not."""

    samples: list[float] = field(default_factory=list)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> Summary | None:
        if not self.samples:
            return None
        return Summary(statistics.median(self.samples), min(self.samples), max(self.samples), len(self.samples))

    def skip(self, reason: str) -> None:
        """Keeps the first reason: later rounds usually repeat it."""
        if self.skipped is None:
            self.skipped = reason

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


GROUPS = ("startup", "roundtrip", "burst", "memory", "fanout", "pending", "interrupt")


def catalog(pending_levels: tuple[int, ...]) -> list[Figure]:
    """Every figure in report order; the pending-queue rows depend on the levels measured."""
    lower, higher = Better.LOWER, Better.HIGHER
    figures = [
        Figure("startup", "start → first 200 of GET /object_info", "s", lower, "startup"),
        Figure("roundtrip", "distinct tiny prompt: POST → executing null", "ms", lower, "roundtrip"),
        Figure("cached", "identical cached re-run: POST → executing null", "ms", lower, "roundtrip"),
        Figure("burst", "burst of distinct tiny prompts", "prompts/s", higher, "burst"),
        Figure("rss_idle", "server RSS idle", "MB", lower, "memory"),
        Figure("rss_idle_tree", "server + child processes RSS idle", "MB", lower, "memory"),
        Figure("rss_burst", "server RSS after the burst", "MB", lower, "memory"),
        Figure("rss_burst_tree", "server + child processes RSS after the burst", "MB", lower, "memory"),
        Figure("fanout_rate", "WebSocket fan-out: events delivered", "events/s", higher, "fanout"),
        Figure("fanout_lag", "WebSocket fan-out: slowest client's lag", "ms", lower, "fanout"),
    ]
    for level in pending_levels:
        figures += [
            Figure(f"post_{level}", f"POST /prompt with {level:,} pending", "ms", lower, "pending"),
            Figure(f"queue_{level}", f"GET /queue with {level:,} pending", "ms", lower, "pending"),
            Figure(f"jobs_{level}", f"GET /api/jobs?limit=200 with {level:,} pending", "ms", lower, "pending"),
        ]
    figures += [
        Figure("interrupt_progress", "interrupt, node with progress: POST → interrupted", "ms", lower, "interrupt"),
        Figure("interrupt_sync", "interrupt, long node without progress: POST → interrupted", "ms", lower, "interrupt"),
    ]
    return figures


def ratio(first: Summary | None, second: Summary | None) -> float | None:
    """first ÷ second of the medians, when both exist and the divisor is not zero."""
    if first is None or second is None or second.median == 0:
        return None
    return first.median / second.median
