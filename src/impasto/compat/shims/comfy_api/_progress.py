"""`execution.set_progress` of ComfyAPI and ComfyAPISync (node-api.md §4.5).

Each call is an interrupt point and a progress report of the node executing in the current context (or the
node named). A preview is a PIL image or an IMAGE tensor (its first image), shrunk to `--preview-size` unless
`ignore_size_limit`.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from impasto.compat.runtime import current as compat_settings
from impasto.compat.runtime import encode_preview
from impasto.engine.context import active_run, check_interrupt, current_node


def set_progress(
    value: float,
    max_value: float,
    node_id: str | None = None,
    preview_image: Any = None,
    ignore_size_limit: bool = False,
) -> None:
    if node_id is None:
        context = current_node()
        if context is None:
            raise ValueError("set_progress needs a node_id outside a node's execution")
        node_id = context.node_id
    check_interrupt()
    run = active_run()
    if run is None:
        return
    preview = None
    if preview_image is not None:
        max_size = None if ignore_size_limit else compat_settings().preview_size
        preview = encode_preview(_as_pil(preview_image), "JPEG", max_size)
    run.report_progress(node_id, value, max_value, preview)


def _as_pil(image: Any) -> Any:
    """A PIL image as is; an IMAGE tensor `[B, H, W, C]` (or `[H, W, C]`) as its first image in 8 bits."""
    if isinstance(image, Image.Image):
        return image
    pixels = image[0] if image.dim() == 4 else image
    array = (pixels.detach().cpu().clamp(0, 1) * 255).round().to(dtype=torch.uint8).numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
