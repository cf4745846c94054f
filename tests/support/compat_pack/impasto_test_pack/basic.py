"""Images, numbers, lazy mixing, variadic inputs, IS_CHANGED variants, progress and output nodes."""

import math
from typing import ClassVar

import comfy.utils
import torch
from comfy.comfy_types import IO
from comfy_api.v0_0_2 import ComfyAPISync

from server import PromptServer


def solid(value, size=8, batch=1):
    return torch.full((batch, size, size, 3), float(value))


class TestImage:
    """A solid grey image of `value` (0..1)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0}),
                "size": ("INT", {"default": 8, "min": 1, "max": 64}),
                "batch": ("INT", {"default": 1, "min": 1, "max": 8}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "make"
    CATEGORY = "impasto_test"

    def make(self, value, size, batch):
        return (solid(value, size, batch),)


class TestMask:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0})}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "make"
    CATEGORY = "impasto_test"

    def make(self, value):
        return (torch.full((1, 8, 8), float(value)),)


class TestLazyMix:
    """Mixes two images by a mask; asks only for the images the mask needs (check_lazy_status)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"image1": ("IMAGE", {"lazy": True}), "image2": ("IMAGE", {"lazy": True}), "mask": ("MASK",)}
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mix"
    CATEGORY = "impasto_test"

    def check_lazy_status(self, mask, image1, image2):
        lowest, highest = float(mask.min()), float(mask.max())
        needed = []
        if image1 is None and lowest != 1.0:
            needed.append("image1")
        if image2 is None and highest != 0.0:
            needed.append("image2")
        return needed

    def mix(self, mask, image1, image2):
        lowest, highest = float(mask.min()), float(mask.max())
        if highest == 0.0:
            return (image1,)
        if lowest == 1.0:
            return (image2,)
        weight = mask.reshape(1, *mask.shape[1:], 1)
        return (image1 * (1 - weight) + image2 * weight,)


class TestVariadicAverage:
    """Averages `input1` and every undeclared linked input (`input2`, `input3`, ...)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"input1": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "average"
    CATEGORY = "impasto_test"

    def average(self, **images):
        return (torch.stack([images[k] for k in sorted(images)]).mean(dim=0),)


class TestMean:
    """An output node with a socket output: reports the image mean and passes it on."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "mean"
    OUTPUT_NODE = True
    CATEGORY = "impasto_test"

    def mean(self, image, unique_id):
        value = round(float(image.mean()), 4)
        return {"ui": {"mean": [value]}, "result": (value,)}


class TestShow:
    """An output node that shows any value as text."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,)}}

    RETURN_TYPES = ()
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "impasto_test"

    def show(self, value):
        if isinstance(value, torch.Tensor):
            value = round(float(value.mean()), 4)
        return {"ui": {"text": [str(value)]}}


class TestChangedConstant:
    """IS_CHANGED sees only constants (linked inputs arrive as None); the function reports what it saw."""

    SEEN: ClassVar[dict] = {}

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value": ("FLOAT",), "tag": ("STRING", {"default": "a"})},
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def IS_CHANGED(cls, value, tag, unique_id):
        cls.SEEN[unique_id] = (value, tag)
        return tag

    def run(self, value, tag, unique_id):
        PromptServer.instance.send_sync(
            "impasto_test.is_changed", {"node": unique_id, "seen": list(self.SEEN[unique_id])}
        )
        return (value,)


class TestChangedNaN:
    """IS_CHANGED returns NaN: the node runs on every run."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def IS_CHANGED(cls, value):
        return math.nan

    def run(self, value):
        return (value,)


class TestChangedRaises:
    """IS_CHANGED raises: treated as changed (the node runs) and the run still succeeds."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def IS_CHANGED(cls, value):
        raise RuntimeError("cannot tell")

    def run(self, value):
        return (value,)


class TestProgress:
    """Reports `steps` steps, through ProgressBar or through ComfyAPISync.execution.set_progress."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("FLOAT",),
                "steps": ("INT", {"default": 3, "min": 1}),
                "api": (["progress_bar", "comfy_api"],),
            }
        }

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    def run(self, value, steps, api):
        if api == "progress_bar":
            bar = comfy.utils.ProgressBar(steps)
            for _ in range(steps):
                bar.update(1)
        else:
            sync = ComfyAPISync()
            for step in range(steps):
                sync.execution.set_progress(step + 1, steps)
        return (value,)


class TestRaise:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT",), "message": ("STRING", {"default": "boom"})}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    def run(self, value, message):
        raise ValueError(message)


NODE_CLASS_MAPPINGS = {
    "TestImage": TestImage,
    "TestMask": TestMask,
    "TestLazyMix": TestLazyMix,
    "TestVariadicAverage": TestVariadicAverage,
    "TestMean": TestMean,
    "TestShow": TestShow,
    "TestChangedConstant": TestChangedConstant,
    "TestChangedNaN": TestChangedNaN,
    "TestChangedRaises": TestChangedRaises,
    "TestProgress": TestProgress,
    "TestRaise": TestRaise,
}
NODE_DISPLAY_NAME_MAPPINGS = {"TestLazyMix": "Lazy Mix (test)"}
