"""Shared fixtures: an engine over the test node pack, and a harness that validates, runs and records events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from impasto.engine.cache import CacheSettings
from impasto.engine.cancel import CancelToken
from impasto.engine.events import Event, PreviewEvent
from impasto.engine.registry import NodeRegistry
from impasto.engine.runner import Engine, RunRequest, RunResult
from impasto.engine.validation import validate_locally
from impasto.graph.validate import ValidationResult
from impasto.nodes import settings
from impasto.nodes.settings import NodeSettings
from impasto.protocol.events import EventType
from tests.support import testnodes


@dataclass
class Run:
    validation: ValidationResult
    result: RunResult
    events: list[Event | PreviewEvent] = field(default_factory=list)

    def types(self) -> list[str]:
        return [e.type.value for e in self.events if isinstance(e, Event)]

    def of(self, type_: EventType) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if isinstance(e, Event) and e.type is type_]

    def executing(self) -> list[str]:
        return [e["node"] for e in self.of(EventType.EXECUTING)]


class Harness:
    """Validates a prompt against the registry and runs it on one engine (kept across runs)."""

    def __init__(self, registry: NodeRegistry, cache: CacheSettings) -> None:
        self.registry = registry
        self.engine = Engine(registry, cache)
        self._count = 0

    def run(
        self,
        prompt: dict[str, Any],
        *,
        token: CancelToken | None = None,
        extra_data: dict[str, Any] | None = None,
        targets: list[str] | None = None,
        sensitive: dict[str, str] | None = None,
    ) -> Run:
        validation = validate_locally(prompt, self.registry, targets)
        assert validation.ok, (validation.error, validation.node_errors)
        self._count += 1
        events: list[Event | PreviewEvent] = []
        request = RunRequest(
            prompt_id=f"p{self._count}",
            prompt=validation.prompt,
            outputs=validation.outputs,
            extra_data=extra_data or {"client_id": "c1"},
            sensitive=sensitive or {},
        )
        result = self.engine.run_sync(request, events.append, token)
        return Run(validation, result, events)


@pytest.fixture
def test_registry() -> NodeRegistry:
    registry = NodeRegistry()
    for name, cls in testnodes.ALL.items():
        registry.register(name, cls)
    return registry


@pytest.fixture
def make_harness(test_registry: NodeRegistry) -> Callable[..., Harness]:
    def make(cache: CacheSettings | None = None) -> Harness:
        return Harness(test_registry, cache or CacheSettings())

    return make


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@pytest.fixture(autouse=True)
def _reset_test_nodes() -> Iterator[None]:
    testnodes.CallLog.calls.clear()
    testnodes.Hidden.seen.clear()
    testnodes.Changing.received.clear()
    testnodes.Busy.started.clear()
    testnodes.Sleep.spans.clear()
    yield


@pytest.fixture
def configure_nodes() -> Iterator[Callable[[NodeSettings], None]]:
    """Configure the node settings for one test; the previous settings come back afterwards."""
    previous = settings.current()
    yield settings.configure
    settings.configure(previous)
