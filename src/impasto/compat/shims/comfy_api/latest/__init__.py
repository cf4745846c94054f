"""`comfy_api.latest`: the V3 node API (node-api.md §6): `io` (schema and types), `ui` (result helpers),
`ComfyExtension` (what `comfy_entrypoint` returns), mapped onto V1 by `impasto.compat.shims.comfy_api.latest._adapter`.
"""

from __future__ import annotations

from impasto.compat.shims.comfy_api.latest import _io as io
from impasto.compat.shims.comfy_api.latest import _ui as ui
from impasto.compat.shims.comfy_api.latest._io import ComfyNode


class ComfyExtension:
    """A V3 pack: `comfy_entrypoint()` returns one; the loader awaits `on_load` and then `get_node_list`."""

    async def on_load(self) -> None:
        return None

    async def get_node_list(self) -> list[type[ComfyNode]]:
        return []


class ComfyAPI:
    """The API object of this version: `execution.set_progress` (as in `comfy_api.v0_0_2`)."""

    def __init__(self) -> None:
        from impasto.compat.shims.comfy_api.v0_0_2 import ComfyAPI as Versioned

        self.execution = Versioned().execution


__all__ = ["ComfyAPI", "ComfyExtension", "io", "ui"]
