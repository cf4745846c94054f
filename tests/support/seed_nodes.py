"""A custom-node pack with a seeded image node (an INT input named `seed`, which the frontend gives a
control_after_generate widget); copied into custom_nodes by the browser tests."""

from __future__ import annotations

import os


class SeededImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "test"

    def make(self, seed):
        import torch

        generator = torch.Generator().manual_seed(seed)
        return (torch.rand(1, 16, 16, 3, generator=generator),)


class SeededProgress:
    """Makes an image from `seed` over `seconds`, reporting progress every 50 ms (the node stops at a report).

    The largest seed (FAILING_SEED) fails the node at its end: an execution error on demand."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF}),
                "seconds": ("FLOAT", {"default": 20.0, "min": 0.0, "max": 3600.0, "step": 0.05}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "test"

    def make(self, seed, seconds):
        import time

        import torch

        from impasto.engine.context import active_run, current_node

        run, node = active_run(), current_node()
        assert run is not None and node is not None
        steps = max(1, round(seconds / 0.05))
        for step in range(steps):
            time.sleep(seconds / steps)
            run.report_progress(node.node_id, step + 1, steps)
        if seed == FAILING_SEED:
            raise ValueError(f"seed {seed} fails this node")
        generator = torch.Generator().manual_seed(seed)
        return (torch.rand(1, 16, 16, 3, generator=generator),)


FAILING_SEED = 0xFFFFFFFF
NODE_CLASS_MAPPINGS = {"SeededImage": SeededImage, "SeededProgress": SeededProgress}


def install(base: os.PathLike[str] | str) -> None:
    """Copy this pack into `<base>/custom_nodes/`."""
    import shutil
    from pathlib import Path

    folder = Path(base) / "custom_nodes"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(__file__, folder / "seed_nodes.py")
