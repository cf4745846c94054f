"""`comfy_api.v0_0_2`: ComfyAPI and ComfyAPISync, whose `execution.set_progress` reports a node's progress
(node-api.md §4.5). The sync variant works (ComfyUI v0.3.64's does not)."""

from __future__ import annotations

from typing import Any

from impasto.compat.shims.comfy_api._progress import set_progress


class _Execution:
    async def set_progress(
        self,
        value: float,
        max_value: float,
        node_id: str | None = None,
        preview_image: Any = None,
        ignore_size_limit: bool = False,
    ) -> None:
        set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class _ExecutionSync:
    def set_progress(
        self,
        value: float,
        max_value: float,
        node_id: str | None = None,
        preview_image: Any = None,
        ignore_size_limit: bool = False,
    ) -> None:
        set_progress(value, max_value, node_id, preview_image, ignore_size_limit)


class ComfyAPI:
    """The async API object: `await ComfyAPI().execution.set_progress(...)`."""

    def __init__(self) -> None:
        self.execution = _Execution()


class ComfyAPISync:
    """The blocking API object for sync node code."""

    def __init__(self) -> None:
        self.execution = _ExecutionSync()


from impasto.compat.shims.comfy_api.latest import ComfyExtension, io, ui  # noqa: E402  # V3 names of this version

__all__ = ["ComfyAPI", "ComfyAPISync", "ComfyExtension", "io", "ui"]
