"""Folding the engine's per-node `progress_state` changes into the wire message (every non-pending node)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impasto.protocol.events import NodeProgress, ProgressStateData


class ProgressStateFold:
    """The full `progress_state` of one run, updated from change events."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.nodes: dict[str, NodeProgress] = {}

    def apply(self, data: Mapping[str, Any]) -> ProgressStateData:
        """Merge one change event and return the complete message payload."""
        self.nodes.update(data.get("nodes", {}))
        return {"prompt_id": self.prompt_id, "nodes": dict(self.nodes)}
