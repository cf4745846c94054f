"""`comfy_execution.graph_utils`: GraphBuilder with ComfyUI's deterministic id prefixes (node-api.md §4.2).

These are the engine's own classes (`impasto.graph.expansion`), so the prefix defaults the engine sets before
each node call are the ones a pack's builder reads, per execution context.
"""

from __future__ import annotations

from impasto.graph.blocker import ExecutionBlocker
from impasto.graph.expansion import GraphBuilder, Node, add_graph_prefix
from impasto.protocol.prompt import is_link

__all__ = ["ExecutionBlocker", "GraphBuilder", "Node", "add_graph_prefix", "is_link"]
