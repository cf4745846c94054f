"""The device entry of `/system_stats` (http-api.md §6.4), as workers report it."""

from __future__ import annotations

from typing import Any


def cpu_device() -> dict[str, Any]:
    """The entry of a worker that computes on the CPU."""
    return {
        "name": "cpu",
        "type": "cpu",
        "index": None,
        "vram_total": 0,
        "vram_free": 0,
        "torch_vram_total": 0,
        "torch_vram_free": 0,
    }
