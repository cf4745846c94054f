"""A custom-node pack with a stand-in model loader, for scheduling tests; copied into custom_nodes."""

from __future__ import annotations

import os
import time


class SlowLoader:
    """Files itself under "loaders" like ComfyUI's checkpoint loader; "loading" takes a moment."""

    CATEGORY = "loaders"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": ("STRING", {"default": "a.safetensors"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "load"

    def load(self, ckpt_name):
        time.sleep(0.3)
        return (ckpt_name,)


class UseModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("STRING",), "tag": ("INT", {"default": 0})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, model, tag):
        time.sleep(0.2)
        return {"ui": {"text": [f"{model}:{tag}"]}}


NODE_CLASS_MAPPINGS = {"SlowLoader": SlowLoader, "UseModel": UseModel}


def install(base: os.PathLike[str] | str) -> None:
    """Copy this pack into `<base>/custom_nodes/`."""
    import shutil
    from pathlib import Path

    folder = Path(base) / "custom_nodes"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(__file__, folder / "loader_nodes.py")
