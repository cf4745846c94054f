"""`comfy_execution.graph`: ExecutionBlocker, the DYNPROMPT object's class and the graph errors (node-api.md §4.3).

The engine's own classes: a blocker a pack returns is the one the engine recognises, and the `DYNPROMPT` hidden
input a node receives is an instance of this `DynamicPrompt`.
"""

from __future__ import annotations

from impasto.graph.blocker import ExecutionBlocker
from impasto.graph.dynprompt import DependencyCycleError, DynamicPrompt, NodeInputError, NodeNotFoundError

__all__ = ["DependencyCycleError", "DynamicPrompt", "ExecutionBlocker", "NodeInputError", "NodeNotFoundError"]
