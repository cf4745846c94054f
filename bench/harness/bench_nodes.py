"""A custom-node pack for the benchmark, written against the node API that impasto and ComfyUI share.

Copy this file into a server's `custom_nodes/` folder (`python -m bench --install-nodes FOLDER` does) to
enable the interrupt figures, and the pending-queue figures on a server without a pause endpoint:

- BenchProgress: reports progress through `comfy.utils.ProgressBar` every `interval_ms`, sleeping between
  reports; both servers check for an interrupt at each report.
- BenchBusy: a pure-Python loop for `seconds` that never checks in, like a slow node without progress.

`comfy.utils` is imported when a node runs, so the file also imports where no server is around.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, ClassVar


class BenchProgress:
    """Sleeps `interval_ms` per step and reports each step."""

    CATEGORY: ClassVar[str] = "benchmark"
    RETURN_TYPES: ClassVar[tuple[str, ...]] = ()
    FUNCTION: ClassVar[str] = "run"
    OUTPUT_NODE: ClassVar[bool] = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "steps": ("INT", {"default": 1000, "min": 1, "max": 10**9}),
                "interval_ms": ("INT", {"default": 10, "min": 1, "max": 10_000}),
            }
        }

    def run(self, steps: int, interval_ms: int) -> dict[str, Any]:
        progress = importlib.import_module("comfy.utils").ProgressBar(steps)
        for _ in range(steps):
            time.sleep(interval_ms / 1000)
            progress.update(1)
        return {}


class BenchBusy:
    """Keeps the interpreter busy for `seconds` without ever checking for an interrupt."""

    CATEGORY: ClassVar[str] = "benchmark"
    RETURN_TYPES: ClassVar[tuple[str, ...]] = ()
    FUNCTION: ClassVar[str] = "run"
    OUTPUT_NODE: ClassVar[bool] = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"seconds": ("FLOAT", {"default": 10.0, "min": 0.0, "max": 3600.0, "step": 0.000001})}}

    def run(self, seconds: float) -> dict[str, Any]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return {}


NODE_CLASS_MAPPINGS = {"BenchProgress": BenchProgress, "BenchBusy": BenchBusy}
NODE_DISPLAY_NAME_MAPPINGS = {"BenchProgress": "Benchmark: progress", "BenchBusy": "Benchmark: busy loop"}
