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


NODE_CLASS_MAPPINGS = {"SeededImage": SeededImage}


def install(base: os.PathLike[str] | str) -> None:
    """Copy this pack into `<base>/custom_nodes/`."""
    import shutil
    from pathlib import Path

    folder = Path(base) / "custom_nodes"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(__file__, folder / "seed_nodes.py")
