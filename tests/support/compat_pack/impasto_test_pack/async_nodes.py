"""Async nodes: overlapping sleeps, errors, lazy checks, expansion and progress (execution.md §7.8)."""

import asyncio
import time

import torch
from comfy.comfy_types import IO
from comfy_api.v0_0_2 import ComfyAPI
from comfy_execution.graph_utils import GraphBuilder


class TestAsyncSleep:
    """Sleeps without blocking the loop; an output node reporting when it slept (wall clock, seconds)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,), "seconds": ("FLOAT", {"default": 0.2, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "sleep"
    OUTPUT_NODE = True
    CATEGORY = "impasto_test/async"

    async def sleep(self, value, seconds):
        started = time.time()
        await asyncio.sleep(seconds)
        return {"ui": {"span": [started, time.time()]}, "result": (value,)}


class TestAsyncError:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,)}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "run"
    CATEGORY = "impasto_test/async"

    async def run(self, value):
        await asyncio.sleep(0.01)
        raise RuntimeError("async failure")


class TestAsyncLazyMix:
    """As TestLazyMix, with an async check_lazy_status and function."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"image1": ("IMAGE", {"lazy": True}), "image2": ("IMAGE", {"lazy": True}), "mask": ("MASK",)}
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mix"
    CATEGORY = "impasto_test/async"

    async def check_lazy_status(self, mask, image1, image2):
        await asyncio.sleep(0)
        weight = float(mask.max())
        if weight == 0.0:
            return ["image1"] if image1 is None else []
        if float(mask.min()) == 1.0:
            return ["image2"] if image2 is None else []
        return [name for name, image in (("image1", image1), ("image2", image2)) if image is None]

    async def mix(self, mask, image1, image2):
        await asyncio.sleep(0)
        if float(mask.max()) == 0.0:
            return (image1,)
        if float(mask.min()) == 1.0:
            return (image2,)
        weight = mask.reshape(1, *mask.shape[1:], 1)
        return (image1 * (1 - weight) + image2 * weight,)


class TestAsyncExpand:
    """After an await, expands into `value + 1` built with a GraphBuilder (prefix from this call's context)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test/async"

    async def run(self, value):
        await asyncio.sleep(0.05)
        graph = GraphBuilder()
        added = graph.node("TestIntAdd", a=value, b=1)
        return {"result": (added.out(0),), "expand": graph.finalize()}


class TestAsyncProgress:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,), "steps": ("INT", {"default": 3, "min": 1})}}

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "run"
    CATEGORY = "impasto_test/async"

    async def run(self, value, steps):
        api = ComfyAPI()
        for step in range(steps):
            await asyncio.sleep(0)
            preview = torch.full((1, 4, 4, 3), 0.5) if step == steps - 1 else None
            await api.execution.set_progress(step + 1, steps, preview_image=preview)
        return (value,)


NODE_CLASS_MAPPINGS = {
    "TestAsyncSleep": TestAsyncSleep,
    "TestAsyncError": TestAsyncError,
    "TestAsyncLazyMix": TestAsyncLazyMix,
    "TestAsyncExpand": TestAsyncExpand,
    "TestAsyncProgress": TestAsyncProgress,
}
