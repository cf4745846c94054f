"""Which pending job a free worker takes when there are several workers (execution.md §1, workers issue §8).

A worker's cache holds the models its last job loaded (its heavy inputs, `graph.heavy`). When the first
job in run order needs models that another worker holds and this one does not, this worker looks a few
jobs ahead for one whose models it already holds, and leaves the first job to the other worker. The look
is bounded, and a job passed over `MAX_SKIPS` times is taken by the next free worker whatever it holds, so
no job waits behind later ones for long. With one worker, or no heavy inputs known, the order is strict.
"""

from __future__ import annotations

from collections.abc import Sequence

LOOK_AHEAD = 8  # pending jobs a free worker considers
MAX_SKIPS = 4  # times the first job may be passed over


def pick(needs: Sequence[frozenset[str]], mine: frozenset[str], others: frozenset[str], head_skips: int) -> int:
    """The index of the job to take: `needs` are the heavy inputs of the candidates in run order; `mine`
    what this worker holds, `others` what the other workers hold."""
    if not needs:
        return 0
    head = needs[0]
    if head_skips >= MAX_SKIPS or not head or head <= mine or not head <= others:
        return 0  # the first job is as well off here as anywhere
    for index, need in enumerate(needs[1:LOOK_AHEAD], start=1):
        if need and need <= mine:
            return index
    return 0
