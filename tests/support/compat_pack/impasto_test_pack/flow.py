"""For- and while-loops built by expansion with GraphBuilder (execution.md §7.7).

A loop-closing node that must go on copies the loop body (the nodes between its open node and itself, found
through DYNPROMPT) into a new graph under a fresh prefix, with a new open node carrying the current values,
and returns it as an expansion whose result is the new close node's output.
"""

from comfy.comfy_types import IO
from comfy_execution.graph_utils import GraphBuilder, is_link


def loop_body(dynprompt, open_id, close_id):
    """The ids of the nodes upstream of the close node that depend on the open node."""
    upstream = set()
    stack = [close_id]
    while stack:
        for value in dynprompt.get_node(stack.pop())["inputs"].values():
            if is_link(value) and value[0] != open_id and value[0] not in upstream:
                upstream.add(value[0])
                stack.append(value[0])
    depends = {}

    def reaches_open(node_id):
        if node_id not in depends:
            depends[node_id] = False
            depends[node_id] = any(
                is_link(v) and (v[0] == open_id or (v[0] in upstream and reaches_open(v[0])))
                for v in dynprompt.get_node(node_id)["inputs"].values()
            )
        return depends[node_id]

    return sorted(n for n in upstream if reaches_open(n))


def next_iteration(dynprompt, open_id, close_id, open_inputs):
    """A copy of open node, body and close node; the copied open node takes `open_inputs`."""
    graph = GraphBuilder()
    copied = [open_id, *loop_body(dynprompt, open_id, close_id), close_id]
    for node_id in copied:
        node = dynprompt.get_node(node_id)
        clone = graph.node(node["class_type"], node_id)
        clone.set_override_display_id(dynprompt.get_display_node_id(node_id))
    for node_id in copied:
        clone = graph.lookup_node(node_id)
        for name, value in dynprompt.get_node(node_id)["inputs"].items():
            if is_link(value) and value[0] in copied:
                value = graph.lookup_node(value[0]).out(value[1])
            clone.set_input(name, value)
    for name, value in open_inputs.items():
        graph.lookup_node(open_id).set_input(name, value)
    return graph, graph.lookup_node(close_id)


class TestForLoopOpen:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"remaining": ("INT", {"default": 1, "min": 1, "max": 100}), "initial_value1": (IO.ANY,)}}

    RETURN_TYPES = ("FLOW_CONTROL", "INT", IO.ANY)
    RETURN_NAMES = ("flow_control", "remaining", "value1")
    FUNCTION = "open"
    CATEGORY = "impasto_test/flow"

    def open(self, remaining, initial_value1):
        return ("loop", remaining, initial_value1)


class TestForLoopClose:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"flow_control": ("FLOW_CONTROL", {"rawLink": True}), "initial_value1": (IO.ANY,)},
            "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "close"
    CATEGORY = "impasto_test/flow"

    def close(self, flow_control, initial_value1, dynprompt, unique_id):
        open_id = flow_control[0]
        remaining = dynprompt.get_node(open_id)["inputs"]["remaining"]
        if remaining <= 1:
            return (initial_value1,)
        graph, close = next_iteration(
            dynprompt, open_id, unique_id, {"remaining": remaining - 1, "initial_value1": initial_value1}
        )
        return {"result": (close.out(0),), "expand": graph.finalize()}


class TestWhileLoopOpen:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"condition": ("BOOLEAN", {"default": True}), "initial_value1": (IO.ANY,)}}

    RETURN_TYPES = ("FLOW_CONTROL", IO.ANY)
    FUNCTION = "open"
    CATEGORY = "impasto_test/flow"

    def open(self, condition, initial_value1):
        return ("loop", initial_value1)


class TestWhileLoopClose:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "flow_control": ("FLOW_CONTROL", {"rawLink": True}),
                "condition": ("BOOLEAN",),
                "initial_value1": (IO.ANY,),
            },
            "hidden": {"dynprompt": "DYNPROMPT", "unique_id": "UNIQUE_ID"},
        }

    RETURN_TYPES = (IO.ANY,)
    FUNCTION = "close"
    CATEGORY = "impasto_test/flow"

    def close(self, flow_control, condition, initial_value1, dynprompt, unique_id):
        if not condition:
            return (initial_value1,)
        graph, close = next_iteration(
            dynprompt, flow_control[0], unique_id, {"condition": True, "initial_value1": initial_value1}
        )
        return {"result": (close.out(0),), "expand": graph.finalize()}


class TestIntAdd:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "add"
    CATEGORY = "impasto_test/flow"

    def add(self, a, b):
        return (a + b,)


class TestIntLess:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "less"
    CATEGORY = "impasto_test/flow"

    def less(self, a, b):
        return (a < b,)


NODE_CLASS_MAPPINGS = {
    "TestForLoopOpen": TestForLoopOpen,
    "TestForLoopClose": TestForLoopClose,
    "TestWhileLoopOpen": TestWhileLoopOpen,
    "TestWhileLoopClose": TestWhileLoopClose,
    "TestIntAdd": TestIntAdd,
    "TestIntLess": TestIntLess,
}
