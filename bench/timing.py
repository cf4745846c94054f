"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def timed(function: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` calls, with garbage collected before each."""
    samples = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples
