"""`comfy.comfy_types`: the typing helpers of `node_typing`, under the package name packs also import."""

from impasto.compat.shims.comfy.comfy_types.node_typing import (
    IO,
    CheckLazyMixin,
    ComfyNodeABC,
    FileLocator,
    InputTypeDict,
)

__all__ = ["IO", "CheckLazyMixin", "ComfyNodeABC", "FileLocator", "InputTypeDict"]
