"""Building the graphs that nodes expand into, with ComfyUI's deterministic id prefixes (execution.md §7.7).

Before each call of a node function the engine sets the default prefix root to the node id and the
call index to the list element; each builder made during the call takes the next graph index, so the
first builder of node `5` on its first call names its nodes `5.0.0.1`, `5.0.0.2`, ... The defaults
live in a context variable, so overlapping async node calls never share them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from impasto.protocol.prompt import is_link


@dataclass(slots=True)
class _PrefixDefaults:
    root: str
    call_index: int
    graph_index: int


_defaults: ContextVar[_PrefixDefaults | None] = ContextVar("impasto_graph_prefix", default=None)


class Node:
    """One node of an expansion graph."""

    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]) -> None:
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list[Any]:
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        self.override_display_id = override_display_id

    def serialize(self) -> dict[str, Any]:
        serialized: dict[str, Any] = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            serialized["override_display_id"] = self.override_display_id
        return serialized


class GraphBuilder:
    """Builds `{node_id: node}` graphs for `{"expand": ...}` results."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = self.alloc_prefix() if prefix is None else prefix
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        _defaults.set(_PrefixDefaults(prefix_root, call_index, graph_index))

    @classmethod
    def alloc_prefix(
        cls, root: str | None = None, call_index: int | None = None, graph_index: int | None = None
    ) -> str:
        defaults = _defaults.get()
        if defaults is None:
            defaults = _PrefixDefaults("", 0, 0)
            _defaults.set(defaults)
        root = defaults.root if root is None else root
        call_index = defaults.call_index if call_index is None else call_index
        if graph_index is None:
            graph_index = defaults.graph_index
            defaults.graph_index += 1
        return f"{root}.{call_index}.{graph_index}."

    def node(self, class_type: str, id: str | None = None, **inputs: Any) -> Node:
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        full_id = self.prefix + id
        existing = self.nodes.get(full_id)
        if existing is not None:
            return existing
        node = Node(full_id, class_type, inputs)
        self.nodes[full_id] = node
        return node

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + id)

    def finalize(self) -> dict[str, dict[str, Any]]:
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        target = self.prefix + node_id
        for node in self.nodes.values():
            for key, value in list(node.inputs.items()):
                if is_link(value) and value[0] == target and value[1] == index:
                    node.set_input(key, new_value)

    def remove_node(self, id: str) -> None:
        self.nodes.pop(self.prefix + id, None)


def add_graph_prefix(
    graph: dict[str, dict[str, Any]], outputs: tuple[Any, ...], prefix: str
) -> tuple[dict[str, dict[str, Any]], tuple[Any, ...]]:
    """The graph with every node id and internal link prefixed, and `outputs` with its links prefixed."""

    def relink(value: Any) -> Any:
        if is_link(value) and value[0] in graph:
            return [prefix + value[0], value[1]]
        return value

    new_graph = {
        prefix + node_id: {**node, "inputs": {k: relink(v) for k, v in node.get("inputs", {}).items()}}
        for node_id, node in graph.items()
    }
    return new_graph, tuple(relink(o) for o in outputs)
