"""What the compatibility modules need to know about the process they run in: its device choice, preview size,
and where messages that node code sends to clients go.

The worker and the node host call `configure` once, before any pack is imported, from their `Settings`. Until
then the defaults describe a plain CPU-or-GPU process with ComfyUI's default preview size. A worker sets the
client relay; elsewhere (the node host, tests) messages from node code have nowhere to go and are dropped.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CompatSettings:
    cpu: bool = False  # `--cpu`: packs are given the CPU as their torch device
    preview_size: int = 512  # `--preview-size`: the longest edge of a preview sent by `set_progress`


_current = CompatSettings()


def configure(settings: CompatSettings) -> None:
    global _current
    _current = settings


def current() -> CompatSettings:
    return _current


def encode_preview(image: Any, image_format: str, max_size: int | None) -> tuple[str, bytes, int | None]:
    """A PIL image as the (format, encoded bytes, max edge) a progress report carries, shrunk to `max_size`."""
    fmt = "PNG" if str(image_format).upper() == "PNG" else "JPEG"
    if max_size is not None and max(image.size) > max_size:
        image = image.copy()
        image.thumbnail((max_size, max_size))
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=95) if fmt == "JPEG" else image.save(buffer, format=fmt, compress_level=1)
    return fmt, buffer.getvalue(), max_size


ClientRelay = Callable[[str | int, Any, str | None, str | None], None]  # (event, data, sid, job id)
_relay: list[ClientRelay] = []


def set_client_relay(relay: ClientRelay | None) -> None:
    """Where `PromptServer.instance.send_sync` messages go: the worker sends them to the server (None: nowhere)."""
    _relay.clear()
    if relay is not None:
        _relay.append(relay)


def client_relay() -> ClientRelay | None:
    return _relay[0] if _relay else None
