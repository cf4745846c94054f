"""The live graph of a run: the submitted prompt plus the ephemeral nodes that expansion adds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impasto.protocol.prompt import Prompt, PromptNode


class NodeNotFoundError(Exception):
    """A node id that is neither in the submitted prompt nor created by expansion."""


class DependencyCycleError(Exception):
    """A cycle of dependencies, found while scheduling nodes that expansion created."""


class DuplicateNodeError(Exception):
    """An expansion returned a node id that already exists in the run."""


class NodeInputError(Exception):
    """A node asked for an input it does not have."""


class DynamicPrompt:
    """The submitted prompt and the ephemeral nodes added to it during the run.

    An ephemeral node has a parent (the node whose expansion created it) and a display id (what the
    user sees: the expanding node's display id unless the expansion set `override_display_id`).
    """

    def __init__(self, original: Prompt) -> None:
        self._original = original
        self._ephemeral: dict[str, PromptNode] = {}
        self._parents: dict[str, str] = {}
        self._display: dict[str, str] = {}

    def get_node(self, node_id: str) -> PromptNode:
        node = self._ephemeral.get(node_id)
        if node is None:
            node = self._original.get(node_id)
        if node is None:
            raise NodeNotFoundError(f"Node {node_id} not found")
        return node

    def has_node(self, node_id: str) -> bool:
        return node_id in self._original or node_id in self._ephemeral

    def add_ephemeral_node(self, node_id: str, node: Mapping[str, Any], parent_id: str, display_id: str) -> None:
        self._ephemeral[node_id] = node  # type: ignore[assignment]  # shape checked by the caller
        self._parents[node_id] = parent_id
        self._display[node_id] = display_id

    def is_ephemeral(self, node_id: str) -> bool:
        return node_id in self._ephemeral

    def get_original_prompt(self) -> Prompt:
        return self._original

    def get_parent_node_id(self, node_id: str) -> str | None:
        return self._parents.get(node_id)

    def get_real_node_id(self, node_id: str) -> str:
        while node_id in self._parents:
            node_id = self._parents[node_id]
        return node_id

    def get_display_node_id(self, node_id: str) -> str:
        seen: set[str] = set()
        while node_id in self._display and node_id not in seen:
            seen.add(node_id)
            node_id = self._display[node_id]
        return node_id

    def all_node_ids(self) -> set[str]:
        return set(self._original) | set(self._ephemeral)

    def ephemeral_node_ids(self) -> list[str]:
        return list(self._ephemeral)
