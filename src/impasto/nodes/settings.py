"""The node configuration of this process: which folders the built-in nodes use, and whether they write metadata.

This module holds the one piece of module-level state in the node pack. Node classes are called by the
engine without arguments of ours (ComfyUI's protocol), so they read their folders from here at call time.
A worker calls `configure` once at start-up; until then `current()` describes the working directory.
The module itself uses only the stdlib and `impasto.paths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from impasto.paths import Folders


@dataclass(frozen=True, slots=True)
class NodeSettings:
    folders: Folders
    disable_metadata: bool = False  # `--disable-metadata`: SaveImage writes no prompt/workflow chunks


_current: NodeSettings | None = None


def configure(settings: NodeSettings) -> None:
    """Set the configuration every built-in node reads from now on."""
    global _current
    _current = settings


def current() -> NodeSettings:
    """The configured settings, or, before `configure`, the ComfyUI layout under the working directory."""
    if _current is None:
        return NodeSettings(folders=Folders.from_base(Path.cwd()))
    return _current
