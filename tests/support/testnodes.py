"""Small node classes that exercise each rule of the V1 protocol (the shapes ComfyUI's own test packs use)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, ClassVar

from impasto.engine.context import active_run, current_node
from impasto.graph.blocker import ExecutionBlocker
from impasto.graph.expansion import GraphBuilder


class CallLog:
    """Records node function calls by class and node id (reset per test)."""

    calls: ClassVar[list[tuple[str, str | None]]] = []

    @classmethod
    def record(cls, name: str) -> None:
        context = current_node()
        cls.calls.append((name, context.node_id if context else None))

    @classmethod
    def count(cls, name: str) -> int:
        return sum(1 for n, _ in cls.calls if n == name)


class Const:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -1000, "max": 1000})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, value):
        CallLog.record("Const")
        return (value,)


class Add:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, a, b):
        CallLog.record("Add")
        return (a + b,)


class Fail:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        CallLog.record("Fail")
        raise RuntimeError(f"boom {value}")


class Output:
    """An output node showing its value as text."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        CallLog.record("Output")
        return {"ui": {"text": [repr(value)]}}


class ListOutput:
    """An output node that sees whole lists."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    INPUT_IS_LIST = True

    def run(self, value):
        CallLog.record("ListOutput")
        return {"ui": {"values": [list(value)]}}


class Range:
    """INT list output: 0..count-1."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 0, "max": 100})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "run"

    def run(self, count):
        CallLog.record("Range")
        return (list(range(count)),)


class Sum:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT",)}}

    RETURN_TYPES = ("INT",)
    INPUT_IS_LIST = True
    FUNCTION = "run"

    def run(self, values):
        CallLog.record("Sum")
        return (sum(values),)


class LazySwitch:
    """Evaluates only the branch it selects (ComfyUI's lazy mix idea)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "select": ("INT", {"default": 0}),
                "on_true": ("INT", {"lazy": True}),
                "on_false": ("INT", {"lazy": True}),
            }
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def check_lazy_status(self, select, on_true=None, on_false=None):
        CallLog.record("LazySwitch.check")
        return ["on_true"] if select else ["on_false"]

    def run(self, select, on_true=None, on_false=None):
        CallLog.record("LazySwitch")
        return (on_true if select else on_false,)


class LazyAskUnknown:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"lazy": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def check_lazy_status(self, value=None):
        return ["no_such_input"]

    def run(self, value):
        return (value,)


class Block:
    """Returns an ExecutionBlocker (with or without message) instead of its value when `block` is set."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",), "block": ("BOOLEAN",), "message": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value, block, message):
        CallLog.record("Block")
        if block:
            return (ExecutionBlocker(message or None),)
        return (value,)


class Sleep:
    """An async node: sleeps, then returns its value. Records when each call started and ended."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",), "seconds": ("FLOAT", {"default": 0.1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    spans: ClassVar[list[tuple[float, float]]] = []

    async def run(self, value, seconds):
        CallLog.record("Sleep")
        started = time.monotonic()
        await asyncio.sleep(seconds)
        Sleep.spans.append((started, time.monotonic()))
        return (value,)


class Payload:
    """A value whose lifetime tests watch."""

    alive: ClassVar[int] = 0

    def __init__(self) -> None:
        Payload.alive += 1

    def __del__(self) -> None:
        Payload.alive -= 1


class MakePayload:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("PAYLOAD",)
    FUNCTION = "run"

    def run(self, value):
        return (Payload(),)


class ConsumePayload:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"payload": ("PAYLOAD",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, payload):
        return (1,)


class CountPayloads:
    """Reports how many Payloads are alive when it runs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"after": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, after):
        import gc

        gc.collect()
        return (Payload.alive,)


class SleepOutput:
    """An async output node."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",), "seconds": ("FLOAT", {"default": 0.1})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    async def run(self, value, seconds):
        await asyncio.sleep(seconds)
        return {"ui": {"text": [str(value)]}}


class AsyncFail:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    async def run(self, value):
        await asyncio.sleep(0.01)
        raise ValueError("async boom")


class Hidden:
    """Reports its hidden inputs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value": ("INT",)},
            "hidden": {
                "prompt": "PROMPT",
                "dynprompt": "DYNPROMPT",
                "extra_pnginfo": "EXTRA_PNGINFO",
                "unique_id": "UNIQUE_ID",
                "auth": "AUTH_TOKEN_COMFY_ORG",
            },
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    seen: ClassVar[list[dict[str, Any]]] = []

    def run(self, value, prompt, dynprompt, extra_pnginfo, unique_id, auth):
        Hidden.seen.append(
            {"prompt": prompt, "dynprompt": dynprompt, "extra": extra_pnginfo, "unique_id": unique_id, "auth": auth}
        )
        return {"ui": {"text": [unique_id]}}


class Variadic:
    """Declares nothing; receives every linked input as a keyword argument."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, **kwargs):
        CallLog.record("Variadic")
        return (sum(v for v in kwargs.values() if isinstance(v, int)),)


class Changing:
    """IS_CHANGED returns the `token` constant, or NaN / raises on request."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"token": ("STRING", {"default": ""}), "value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    received: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    def IS_CHANGED(cls, token, value):
        cls.received.append({"token": token, "value": value})
        if token == "nan":
            return float("nan")
        if token == "raise":
            raise RuntimeError("cannot tell")
        return token

    def run(self, token, value):
        CallLog.record("Changing")
        return (value,)


class NotIdempotent:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    NOT_IDEMPOTENT = True

    def run(self, value):
        CallLog.record("NotIdempotent")
        return (value,)


class Counter:
    """Keeps state on the instance: reports how many times this instance ran."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def __init__(self) -> None:
        self.runs = 0

    def run(self, value):
        self.runs += 1
        return (self.runs,)


class ForLoopSum:
    """Sums 0..count-1 by expanding into one Add per iteration, each iteration expanding the next."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"count": ("INT", {"default": 3, "min": 0}), "total": ("INT", {"default": 0})},
            "optional": {"i": ("INT", {"default": 0})},
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, count, total, i=0):
        CallLog.record("ForLoopSum")
        if i >= count:
            return (total,)
        graph = GraphBuilder()
        step = graph.node("Add", a=total, b=i)
        nxt = graph.node("ForLoopSum", count=count, total=step.out(0), i=i + 1)
        return {"result": (nxt.out(0),), "expand": graph.finalize()}


class ExpandOutput:
    """Expands into an output node showing its value (an ephemeral output)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        graph = GraphBuilder()
        const = graph.node("Const", value=value)
        graph.node("Output", value=const.out(0))
        return {"result": (const.out(0),), "expand": graph.finalize()}


class ExpandCycle:
    """Expands into two nodes that depend on each other."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        graph = GraphBuilder()
        a = graph.node("Add", id="a", b=value)
        b = graph.node("Add", id="b", a=a.out(0), b=value)
        a.set_input("a", b.out(0))
        return {"result": (b.out(0),), "expand": graph.finalize()}


class ExpandDuplicate:
    """Expands into a node id that already exists."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        return {"result": (["1", 0],), "expand": {"1": {"class_type": "Const", "inputs": {"value": 1}}}}


class PrefixProbe:
    """Reports the id prefixes GraphBuilder allocates during its call."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"prefixes": [GraphBuilder().prefix, GraphBuilder().prefix]}}


class Busy:
    """Reports progress `steps` times, `seconds` apart (an interrupt point each time)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 10}), "seconds": ("FLOAT", {"default": 0.01})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    started = threading.Event()

    def run(self, steps, seconds):
        run = active_run()
        context = current_node()
        assert run is not None and context is not None
        for step in range(steps):
            Busy.started.set()
            time.sleep(seconds)
            run.report_progress(context.node_id, step + 1, steps)
        return (steps,)


class Swallow:
    """Catches `Exception` around a progress report: cannot swallow an interrupt."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 5})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, steps):
        run = active_run()
        context = current_node()
        assert run is not None and context is not None
        for step in range(steps):
            with contextlib.suppress(Exception):  # the broad catch is the point of this node
                run.report_progress(context.node_id, step + 1, steps)
        return (steps,)


class Validated:
    """VALIDATE_INPUTS rejects 7s; names `value` so its range checks are skipped."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": 0, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def VALIDATE_INPUTS(cls, value):
        if value == 7:
            return "7s are not allowed"
        if value == 13:
            raise ValueError("unlucky")
        return True

    def run(self, value):
        return (value,)


class RawLink:
    """Receives the link itself for `source` (rawLink), without depending on it."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("INT", {"rawLink": True})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, source):
        return {"ui": {"link": [source]}}


ALL: dict[str, type] = {
    name: obj
    for name, obj in dict(globals()).items()
    if isinstance(obj, type) and hasattr(obj, "INPUT_TYPES") and hasattr(obj, "FUNCTION")
}
