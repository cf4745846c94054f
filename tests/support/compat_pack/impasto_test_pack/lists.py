"""List-making nodes, mixed expansion returns and ExecutionBlocker on lists (execution.md §7.4-7.7)."""

from comfy_execution.graph import ExecutionBlocker
from comfy_execution.graph_utils import GraphBuilder


class TestMakeIntList:
    """`count` integers from `start`, as a list output: every consumer runs once per element."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 0, "max": 100}), "start": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "make"
    CATEGORY = "impasto_test/lists"

    def make(self, count, start):
        return (list(range(start, start + count)),)


class TestBlockOdd:
    """Blocks odd elements (silently, or with a message when one is given)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",), "message": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test/lists"

    def run(self, value, message):
        if value % 2:
            return (ExecutionBlocker(message or None),)
        return (value,)


class TestJoin:
    """Receives whole lists (INPUT_IS_LIST): blocked as a whole when any element is a blocker."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT",)}}

    RETURN_TYPES = ("STRING",)
    INPUT_IS_LIST = True
    FUNCTION = "join"
    CATEGORY = "impasto_test/lists"

    def join(self, values):
        return (",".join(str(v) for v in values),)


class TestMixedExpansion:
    """Per element: odd values expand into a graph that adds 100; even values return value * 10 directly."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test/lists"

    def run(self, value):
        if value % 2 == 0:
            return (value * 10,)
        graph = GraphBuilder()
        added = graph.node("TestIntAdd", a=value, b=100)
        return {"result": (added.out(0),), "expand": graph.finalize()}


NODE_CLASS_MAPPINGS = {
    "TestMakeIntList": TestMakeIntList,
    "TestBlockOdd": TestBlockOdd,
    "TestJoin": TestJoin,
    "TestMixedExpansion": TestMixedExpansion,
}
