"""The typed event stream of a run: engine -> sink callable -> executor -> server hub -> sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from impasto.protocol.events import EventType


@dataclass(frozen=True, slots=True)
class Event:
    """One message of a run, with its payload in ComfyUI's shape.

    `progress_state` events carry only the nodes whose state changed; `protocol.progress` folds
    them into the full message the wire carries.
    """

    type: EventType
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PreviewEvent:
    """A preview image of a running node (sent as a binary frame)."""

    prompt_id: str
    node_id: str
    image_format: str  # "JPEG" or "PNG"
    image: bytes
    max_size: int | None


EventSink = Callable[[Event | PreviewEvent], None]


def now_ms() -> int:
    return int(time.time() * 1000)


def discard(_event: Event | PreviewEvent) -> None:
    """A sink that drops everything."""
