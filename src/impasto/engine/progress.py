"""Per-run progress: node states for `progress_state`, and `progress` updates (execution.md §7.10)."""

from __future__ import annotations

from impasto.engine.events import Event, EventSink
from impasto.graph.dynprompt import DynamicPrompt
from impasto.protocol.events import EventType, NodeProgress, NodeState


class ProgressRegistry:
    """The state of every node of a run that is not pending.

    Each change is emitted as a `progress_state` event naming only the changed node; the complete
    map is rebuilt from the events by `protocol.progress.ProgressStateFold`.
    """

    def __init__(self, prompt_id: str, dynprompt: DynamicPrompt, sink: EventSink) -> None:
        self._prompt_id = prompt_id
        self._dynprompt = dynprompt
        self._sink = sink
        self._nodes: dict[str, NodeProgress] = {}

    def start(self, node_id: str) -> None:
        self._set(node_id, NodeState.RUNNING, 0, 1)

    def update(self, node_id: str, value: float, total: float) -> None:
        value = min(value, total) if total > 0 else value
        self._sink(
            Event(EventType.PROGRESS, {"value": value, "max": total, "prompt_id": self._prompt_id, "node": node_id})
        )
        self._set(node_id, NodeState.RUNNING, value, total)

    def finish(self, node_id: str) -> None:
        entry = self._nodes.get(node_id)
        total = entry["max"] if entry is not None else 1
        self._set(node_id, NodeState.FINISHED, total, total)

    def _set(self, node_id: str, state: NodeState, value: float, total: float) -> None:
        dyn = self._dynprompt
        ephemeral = dyn.is_ephemeral(node_id)
        entry: NodeProgress = {
            "value": value,
            "max": total,
            "state": state.value,
            "node_id": node_id,
            "prompt_id": self._prompt_id,
            "display_node_id": dyn.get_display_node_id(node_id) if ephemeral else node_id,
            "parent_node_id": dyn.get_parent_node_id(node_id) if ephemeral else None,
            "real_node_id": dyn.get_real_node_id(node_id) if ephemeral else node_id,
        }
        self._nodes[node_id] = entry
        self._sink(Event(EventType.PROGRESS_STATE, {"prompt_id": self._prompt_id, "nodes": {node_id: entry}}))
