"""The worker side of a job: the node registry, the engine, and running a prompt with them.

This is the only module of `workers` that imports node code.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from impasto.config import Settings
from impasto.engine.events import EventSink, discard
from impasto.engine.registry import NodeRegistry
from impasto.engine.runner import Engine, RunRequest, RunResult
from impasto.engine.validation import validate_locally
from impasto.graph.validate import ValidationResult

log = logging.getLogger(__name__)


def core_registry() -> NodeRegistry:
    """A registry holding impasto's built-in nodes."""
    from impasto import nodes

    registry = NodeRegistry()
    registry.register_mappings(nodes.NODE_CLASS_MAPPINGS, nodes.NODE_DISPLAY_NAME_MAPPINGS, source="impasto.nodes")
    return registry


def configure_nodes(settings: Settings) -> None:
    """Point the built-in nodes at this process's folders."""
    from impasto.nodes import settings as node_settings

    settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(settings.folders, settings.disable_metadata))


class EmbeddedRunner:
    """Validates and runs prompts in this process (the headless `impasto` command, tests, benchmarks)."""

    def __init__(self, settings: Settings, registry: NodeRegistry | None = None) -> None:
        configure_nodes(settings)
        self.registry = registry or core_registry()
        self.engine = Engine(self.registry, settings.cache)

    def validate(self, prompt: object) -> ValidationResult:
        return validate_locally(prompt, self.registry)

    def run(
        self,
        validation: ValidationResult,
        extra_data: Mapping[str, Any] | None = None,
        sink: EventSink = discard,
        prompt_id: str | None = None,
    ) -> RunResult:
        request = RunRequest(
            prompt_id=prompt_id or str(uuid.uuid4()),
            prompt=validation.prompt,
            outputs=validation.outputs,
            extra_data=dict(extra_data or {}),
        )
        return self.engine.run_sync(request, sink)
