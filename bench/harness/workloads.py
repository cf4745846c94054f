"""The prompts the harness sends, built only from nodes both servers have, plus optional ones when present.

Core workloads use EmptyImage, ImageInvert, SaveImage and PreviewImage. The interrupt figures and holding a
queue on a server without a pause endpoint need a long-running node: the first class found in
`/object_info` from the candidate lists is used (the portable pack `bench/harness/bench_nodes.py` first, then
impasto's test pack), and a figure whose nodes are all missing is skipped with the reason.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Prompt = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LongNode:
    """A candidate long-running node and how to fill its inputs for a run of about `seconds`."""

    class_type: str
    inputs: Callable[[float, int], dict[str, Any]]  # (seconds, salt) -> inputs; the salt keeps prompts distinct


# Nodes that report progress while they run: interrupted at the next report.
PROGRESS_NODES = (
    LongNode("BenchProgress", lambda seconds, salt: {"steps": int(seconds * 100) + salt, "interval_ms": 10}),
    LongNode("TenMsProgress", lambda seconds, salt: {"steps": int(seconds * 100) + salt}),
)
# Nodes that run a pure-Python loop and never check in: only the server's own means can stop them.
BUSY_NODES = (
    LongNode("BenchBusy", lambda seconds, salt: {"seconds": seconds + salt / 1e6}),
    LongNode("Stuck", lambda seconds, salt: {"seconds": seconds + salt / 1e6}),
)
TINY_NODES = ("EmptyImage", "ImageInvert", "SaveImage")
FILLER_NODES = ("EmptyImage", "PreviewImage")


class Colors:
    """Distinct EmptyImage colors, from a random start so a second invocation finds nothing cached."""

    def __init__(self) -> None:
        self._next: Iterator[int] = itertools.count(random.randrange(1 << 23))

    def __call__(self) -> int:
        return next(self._next) % (1 << 24)


def tiny(color: int) -> Prompt:
    """A 64² image, inverted and saved: the smallest real job."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench/tiny"}},
    }


def filler(color: int) -> Prompt:
    """A pending job that is never meant to run (the queue is held)."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def long_prompt(node: LongNode, seconds: float, salt: int, copies: int = 1) -> Prompt:
    """`copies` independent output nodes of one long class.

    Two copies matter for a node that never checks in: a server that checks for interrupts only between nodes
    still reports `execution_interrupted` when the first one ends, instead of finishing the run as a success.
    """
    return {
        str(index + 1): {"class_type": node.class_type, "inputs": node.inputs(seconds, salt)} for index in range(copies)
    }


def first_present(candidates: tuple[LongNode, ...], classes: set[str]) -> LongNode | None:
    return next((node for node in candidates if node.class_type in classes), None)


def missing(needed: tuple[str, ...], classes: set[str]) -> str | None:
    """Why a workload cannot run here, or None."""
    absent = [name for name in needed if name not in classes]
    return f"the server has no node {', '.join(absent)}" if absent else None


def names(candidates: tuple[LongNode, ...]) -> str:
    return " or ".join(node.class_type for node in candidates)
