"""`comfy.utils.ProgressBar` and `comfy.model_management`'s interrupt calls inside a real engine run
(node-api.md §4.1, §4.6; execution.md §9.4)."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from impasto.engine.cancel import CancelToken
from impasto.engine.events import PreviewEvent
from impasto.engine.runner import RunStatus
from impasto.protocol.events import EventType

PACK = """
import threading

from PIL import Image

import comfy.model_management
import comfy.utils

CALLS = []
ON_STEP = []  # callables a test sets, called with the step number


class Steps:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 3}), "overshoot": ("INT", {"default": 0}),
                             "preview": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, steps, overshoot, preview):
        bar = comfy.utils.ProgressBar(steps)
        for step in range(steps + overshoot):
            for callback in ON_STEP:
                callback(step)
            CALLS.append(step)
            image = Image.new("RGB", (64, 32), (255, 0, 0)) if preview else None
            bar.update_absolute(step + 1, preview=None if image is None else ("PNG", image, 16))
        return (bar.current,)


class Show:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"text": [str(value)]}}


class SelfInterrupt:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"withdraw": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, withdraw):
        comfy.model_management.interrupt_current_processing(True)
        seen = comfy.model_management.processing_interrupted()
        if withdraw:
            comfy.model_management.interrupt_current_processing(False)
        CALLS.append(("seen", seen, comfy.model_management.processing_interrupted()))
        try:
            comfy.model_management.throw_exception_if_processing_interrupted()
        except Exception:  # an interrupt is a BaseException: a broad handler in node code does not swallow it
            CALLS.append("swallowed")
        return (1,)


class Threaded:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self):
        bar = comfy.utils.ProgressBar(2)
        errors = []

        def work():
            try:
                bar.update(1)
                bar.update(1)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return (2,)


NODE_CLASS_MAPPINGS = {"Steps": Steps, "Show": Show, "SelfInterrupt": SelfInterrupt, "Threaded": Threaded}
"""


def prompt(node: str, **inputs) -> dict:
    return {"1": {"class_type": node, "inputs": inputs}, "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}


@pytest.fixture
def pack(load_packs):
    loaded = load_packs({"progress_pack": PACK})
    import custom_nodes.progress_pack as module  # type: ignore[import-not-found]

    module.CALLS.clear()
    module.ON_STEP.clear()
    return loaded.harness, module


def test_each_update_reports_progress_for_the_executing_node(pack):
    harness, _module = pack
    run = harness.run(prompt("Steps", steps=3, overshoot=0, preview=False))
    assert run.result.status is RunStatus.SUCCESS
    progress = run.of(EventType.PROGRESS)
    assert [(p["value"], p["max"], p["node"]) for p in progress] == [(1, 3, "1"), (2, 3, "1"), (3, 3, "1")]
    running = [ps["nodes"]["1"] for ps in run.of(EventType.PROGRESS_STATE) if "1" in ps["nodes"]]
    assert [s["value"] for s in running if s["state"] == "running"][-1] == 3


def test_values_beyond_the_total_are_clamped(pack):
    harness, _module = pack
    run = harness.run(prompt("Steps", steps=2, overshoot=2, preview=False))
    assert [p["value"] for p in run.of(EventType.PROGRESS)] == [1, 2, 2, 2]
    assert run.result.outputs["2"] == {"text": ["2"]}


def test_a_preview_is_encoded_shrunk_to_its_max_size_and_sent(pack):
    harness, _module = pack
    run = harness.run(prompt("Steps", steps=1, overshoot=0, preview=True))
    (preview,) = [e for e in run.events if isinstance(e, PreviewEvent)]
    assert (preview.node_id, preview.image_format, preview.max_size) == ("1", "PNG", 16)
    image = Image.open(io.BytesIO(preview.image))
    assert image.size == (16, 8) and image.getpixel((0, 0)) == (255, 0, 0)


def test_a_cancel_stops_the_node_at_its_next_update(pack):
    harness, module = pack
    token = CancelToken()
    module.ON_STEP.append(lambda step: token.cancel() if step == 1 else None)
    run = harness.run(prompt("Steps", steps=5, overshoot=0, preview=False), token=token)
    assert run.result.status is RunStatus.INTERRUPTED
    assert module.CALLS == [0, 1]  # step 1 reported after the cancel: it raised there
    assert [p["value"] for p in run.of(EventType.PROGRESS)] == [1]


def test_a_replaced_hook_loses_progress_but_not_interrupt_checks(pack):
    harness, module = pack
    import comfy.utils  # type: ignore[import-not-found]

    previous = comfy.utils.PROGRESS_BAR_HOOK
    seen = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, **kw: seen.append((value, kw["node_id"])))
    try:
        token = CancelToken()
        module.ON_STEP.append(lambda step: token.cancel() if step == 2 else None)
        run = harness.run(prompt("Steps", steps=4, overshoot=0, preview=False), token=token)
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
    assert seen == [(1, "1"), (2, "1")]
    assert run.of(EventType.PROGRESS) == []
    assert run.result.status is RunStatus.INTERRUPTED


def test_a_bar_updated_from_a_thread_of_the_node_reports_to_its_run(pack):
    harness, _module = pack
    run = harness.run(prompt("Threaded"))
    assert run.result.status is RunStatus.SUCCESS
    assert [(p["value"], p["node"]) for p in run.of(EventType.PROGRESS)] == [(1, "1"), (2, "1")]


def test_node_code_interrupts_its_own_job_and_cannot_swallow_it(pack):
    harness, module = pack
    run = harness.run(prompt("SelfInterrupt", withdraw=False))
    assert run.result.status is RunStatus.INTERRUPTED
    assert module.CALLS == [("seen", True, True)]
    assert run.result.interrupted is not None and run.result.interrupted["node_id"] == "1"


def test_node_code_withdraws_its_own_request(pack):
    harness, module = pack
    run = harness.run(prompt("SelfInterrupt", withdraw=True))
    assert run.result.status is RunStatus.SUCCESS
    assert module.CALLS == [("seen", True, False)]


def test_node_code_cannot_withdraw_a_users_cancel(pack):
    harness, module = pack
    token = CancelToken()
    import comfy.model_management as mm  # type: ignore[import-not-found]

    def cancel_then_withdraw(step: int) -> None:
        token.cancel()
        mm.interrupt_current_processing(False)
        module.CALLS.append(("after withdraw", mm.processing_interrupted()))

    module.ON_STEP.append(cancel_then_withdraw)
    run = harness.run(prompt("Steps", steps=3, overshoot=0, preview=False), token=token)
    assert run.result.status is RunStatus.INTERRUPTED
    assert module.CALLS[0] == ("after withdraw", True)


def test_outside_a_job_the_calls_do_nothing(pack):
    import comfy.model_management as mm
    import comfy.utils

    mm.interrupt_current_processing(True)
    assert mm.processing_interrupted() is False
    mm.throw_exception_if_processing_interrupted()
    bar = comfy.utils.ProgressBar(2)
    bar.update(5)
    assert (bar.node_id, bar.current, bar.total) == (None, 2, 2)
    assert issubclass(mm.InterruptProcessingException, BaseException)
    assert not issubclass(mm.InterruptProcessingException, Exception)
    assert threading.current_thread() is threading.main_thread()
