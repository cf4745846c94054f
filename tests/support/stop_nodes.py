"""A custom-node pack for stopping tests and benchmarks; copied into a server's custom_nodes folder.

Each node misbehaves in one way a real pack can: never checking in, crashing the process, running many
torch module calls, reporting progress often, or holding the interpreter lock in native code.
"""

from __future__ import annotations

import ctypes
import os
import re
import time

from impasto.engine.context import active_run, current_node


class Stuck:
    """Never checks in: a pure-Python loop that only a killed process stops."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 60.0})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return {}


class Exit:
    """Ends its worker process: `os._exit(3)`, or a segmentation fault."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"how": (["exit", "segfault"],)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, how):
        if how == "exit":
            os._exit(3)
        ctypes.string_at(0)
        return {}


class TorchLoop:
    """Many small module calls and no progress reports: only the module-call interrupt point can stop it."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"calls": ("INT", {"default": 10_000_000, "max": 10**9})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, calls):
        import torch

        layer = torch.nn.Linear(16, 16)
        x = torch.zeros(1, 16)
        with torch.no_grad():
            for _ in range(calls):
                x = layer(x)
        return {}


class TenMsProgress:
    """Reports progress every 10 ms."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 100000, "max": 10**9})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, steps):
        run, node = active_run(), current_node()
        assert run is not None and node is not None
        for step in range(steps):
            time.sleep(0.01)
            run.report_progress(node.node_id, step + 1, steps)
        return {}


class HoldsTheLock:
    """Catastrophic regex backtracking: native code that never releases the interpreter lock."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"length": ("INT", {"default": 40})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, length):
        re.match(r"(a+)+$", "a" * length + "b")
        return {}


NODE_CLASS_MAPPINGS = {
    "Stuck": Stuck,
    "Exit": Exit,
    "TorchLoop": TorchLoop,
    "TenMsProgress": TenMsProgress,
    "HoldsTheLock": HoldsTheLock,
}


def install(base: os.PathLike[str] | str) -> None:
    """Copy this pack into `<base>/custom_nodes/`."""
    import shutil
    from pathlib import Path

    folder = Path(base) / "custom_nodes"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(__file__, folder / "stop_nodes.py")
