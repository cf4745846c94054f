"""`nodes`: ComfyUI's core node module as packs import it (node-api.md §4.8).

`NODE_CLASS_MAPPINGS` holds every loaded node class, core and custom (the loader adds each pack's classes as
it registers them), so a pack that looks up another pack's node or wraps a core class finds it. The core
classes are importable by name (`from nodes import SaveImage`).
"""

from __future__ import annotations

from impasto.engine.context import check_interrupt
from impasto.nodes import NODE_CLASS_MAPPINGS as _CORE_CLASSES
from impasto.nodes import NODE_DISPLAY_NAME_MAPPINGS as _CORE_DISPLAY_NAMES
from impasto.nodes.image import (
    EmptyImage,
    ImageBatch,
    ImageCrop,
    ImageFromBatch,
    ImageInvert,
    ImagePadForOutpaint,
    ImageScale,
    ImageScaleBy,
    ImageScaleToTotalPixels,
    RebatchImages,
    RepeatImageBatch,
)
from impasto.nodes.image_io import LoadImage, PreviewImage, SaveImage
from impasto.nodes.postprocessing import ImageBlend, ImageBlur, ImageQuantize, ImageSharpen

MAX_RESOLUTION = 16384

NODE_CLASS_MAPPINGS: dict[str, type] = dict(_CORE_CLASSES)
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = dict(_CORE_DISPLAY_NAMES)
EXTENSION_WEB_DIRS: dict[str, str] = {}


def before_node_execution() -> None:
    """ComfyUI's interrupt check before a node runs: raises when the job running here is cancelled."""
    check_interrupt()


def interrupt_processing(value: bool = True) -> None:
    from impasto.compat.shims.comfy.model_management import interrupt_current_processing

    interrupt_current_processing(value)


__all__ = [
    "EXTENSION_WEB_DIRS",
    "MAX_RESOLUTION",
    "NODE_CLASS_MAPPINGS",
    "NODE_DISPLAY_NAME_MAPPINGS",
    "EmptyImage",
    "ImageBatch",
    "ImageBlend",
    "ImageBlur",
    "ImageCrop",
    "ImageFromBatch",
    "ImageInvert",
    "ImagePadForOutpaint",
    "ImageQuantize",
    "ImageScale",
    "ImageScaleBy",
    "ImageScaleToTotalPixels",
    "ImageSharpen",
    "LoadImage",
    "PreviewImage",
    "RebatchImages",
    "RepeatImageBatch",
    "SaveImage",
    "before_node_execution",
    "interrupt_processing",
]
