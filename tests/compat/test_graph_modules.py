"""`comfy_execution.*`, `comfy.comfy_types` and `nodes` as packs use them (node-api.md §4.2-4.4, §4.8)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from impasto.engine.runner import RunStatus
from impasto.graph.blocker import ExecutionBlocker as EngineBlocker
from impasto.graph.dynprompt import DynamicPrompt as EngineDynamicPrompt
from impasto.graph.expansion import GraphBuilder as EngineBuilder

PACK = """
from comfy.comfy_types import IO, CheckLazyMixin, ComfyNodeABC, InputTypeDict
from comfy_execution.graph import DynamicPrompt, ExecutionBlocker
from comfy_execution.graph_utils import GraphBuilder, is_link
import nodes

SEEN = {}


class Double(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {"required": {"value": (IO.INT, {})}}

    RETURN_TYPES = (IO.INT,)
    FUNCTION = "run"

    def run(self, value):
        return (value * 2,)


class Quadruple:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}, "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value, dynprompt, unique_id):
        SEEN["dynprompt"] = dynprompt
        SEEN["class_type"] = dynprompt.get_node(unique_id)["class_type"]
        graph = GraphBuilder()
        first = graph.node("Double", value=value)
        second = graph.node("Double", value=first.out(0))
        SEEN["prefix"] = graph.prefix
        SEEN["is_link"] = is_link(second.out(0))
        return {"result": (second.out(0),), "expand": graph.finalize()}


class Gate:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",), "open": ("BOOLEAN",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value, open):
        return (value if open else ExecutionBlocker("gate closed"),)


class Mix(CheckLazyMixin):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"lazy": True}), "b": ("INT", {"lazy": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, a, b):
        return (a + b,)


class Shout(nodes.SaveImage):  # packs subclass core nodes
    pass


class Show:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (IO.ANY,)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"text": [str(value)]}}


NODE_CLASS_MAPPINGS = {"Double": Double, "Quadruple": Quadruple, "Gate": Gate, "Mix": Mix, "Shout": Shout,
                       "Show": Show}
NODE_DISPLAY_NAME_MAPPINGS = {"Double": "Double It"}
"""

LATER = """
import nodes

FOUND = {name: nodes.NODE_CLASS_MAPPINGS.get(name) for name in ("Double", "SaveImage", "Missing")}
NODE_CLASS_MAPPINGS = {}
"""


@pytest.fixture
def loaded(load_packs):
    packs = load_packs({"a_graph_pack": PACK, "b_later_pack": LATER})
    import custom_nodes.a_graph_pack as module  # type: ignore[import-not-found]

    module.SEEN.clear()
    return packs, module


def test_expansion_with_the_packs_builder_uses_the_engines_prefixes(loaded):
    packs, module = loaded
    run = packs.harness.run(
        {
            "7": {"class_type": "Quadruple", "inputs": {"value": 3}},
            "8": {"class_type": "Show", "inputs": {"value": ["7", 0]}},
        }
    )
    assert run.result.status is RunStatus.SUCCESS
    assert run.result.outputs["8"] == {"text": ["12"]}
    assert module.SEEN["prefix"] == "7.0.0."
    assert run.executing()[:3] == ["7", "7.0.0.1", "7.0.0.2"]
    assert module.SEEN["is_link"] is True
    assert isinstance(module.SEEN["dynprompt"], EngineDynamicPrompt)
    assert module.SEEN["class_type"] == "Quadruple"


def test_the_modules_hand_out_the_engines_own_classes(loaded):
    import comfy_execution.graph  # type: ignore[import-not-found]
    import comfy_execution.graph_utils  # type: ignore[import-not-found]

    assert comfy_execution.graph_utils.GraphBuilder is EngineBuilder
    assert comfy_execution.graph.ExecutionBlocker is EngineBlocker
    assert comfy_execution.graph_utils.ExecutionBlocker is EngineBlocker


def test_a_blocker_from_a_pack_blocks_its_consumer_with_a_notice(loaded):
    packs, _module = loaded
    prompt = {
        "1": {"class_type": "Gate", "inputs": {"value": 5, "open": False}},
        "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}},
    }
    run = packs.harness.run(prompt)
    assert run.result.status is RunStatus.SUCCESS
    assert "2" not in run.result.outputs
    (notice,) = [e for e in run.of(run_type("execution_error"))]
    assert notice["node_id"] == "2" and notice["exception_message"] == "Execution Blocked: gate closed"


def run_type(name: str):
    from impasto.protocol.events import EventType

    return EventType(name)


def test_the_lazy_mixin_asks_for_every_lazy_input_without_a_value(loaded):
    packs, _module = loaded
    prompt = {
        "1": {"class_type": "Double", "inputs": {"value": 1}},
        "2": {"class_type": "Double", "inputs": {"value": 2}},
        "3": {"class_type": "Mix", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
    }
    run = packs.harness.run(prompt)
    assert run.result.outputs["4"] == {"text": ["6"]}
    assert run.executing().count("3") == 2  # staged, then staged again once its lazy inputs exist


def test_nodes_lists_core_and_pack_classes_for_other_packs(loaded):
    packs, _module = loaded
    import custom_nodes.b_later_pack as later  # type: ignore[import-not-found]
    import nodes  # type: ignore[import-not-found]

    assert later.FOUND["Double"] is nodes.NODE_CLASS_MAPPINGS["Double"]
    assert later.FOUND["SaveImage"] is nodes.SaveImage and later.FOUND["Missing"] is None
    assert nodes.NODE_DISPLAY_NAME_MAPPINGS["Double"] == "Double It"
    assert nodes.MAX_RESOLUTION == 16384
    info = packs.harness.registry.object_info("Shout")
    assert info["output_node"] is True and info["python_module"] == "custom_nodes.a_graph_pack"
    assert info["input"]["required"]["images"][0] == "IMAGE"
    assert packs.harness.registry.object_info("Double")["input"]["required"]["value"] == ["INT", {}]


def test_io_types_compare_like_link_checking():
    from impasto.compat.shims.comfy.comfy_types import IO

    latent = "LATENT"  # a plain str on the left: Python asks the IO member's reflected `!=` first
    assert not (IO.ANY != "IMAGE") and not (latent != IO.ANY)  # noqa: SIM202
    assert not (IO.NUMBER != "INT") and not (IO.INT != "FLOAT,INT")  # noqa: SIM202
    assert IO.IMAGE != "MASK" and IO.IMAGE != 3
    assert str(IO.IMAGE) == "IMAGE" and IO.IMAGE == "IMAGE" and {"IMAGE": 1}[IO.IMAGE] == 1


CHECK_TORCH_FREE = """
import sys
from impasto.compat import hook
hook.install()
from comfy_execution.graph_utils import GraphBuilder, is_link
graph = GraphBuilder(prefix="p.")
node = graph.node("EmptyImage", width=8)
assert graph.finalize() == {"p.1": {"class_type": "EmptyImage", "inputs": {"width": 8}}}
assert is_link(node.out(0)) and not is_link(["a", True])
print("torch" in sys.modules, "numpy" in sys.modules)
"""


def test_graph_utils_imports_without_torch():
    done = subprocess.run([sys.executable, "-c", CHECK_TORCH_FREE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"
