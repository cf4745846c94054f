"""impasto's built-in nodes: ComfyUI's core image, primitive and batch nodes, the SD1.x nodes (`sd/`), and math nodes.

Each class carries `RELATIVE_PYTHON_MODULE`, the `python_module` object_info reports for it. Classes with
`OBJECT_INFO_V3 = True` are V3 nodes in ComfyUI and are reported in the V3 shape; of those, only the ones
with a schema display name appear in `NODE_DISPLAY_NAME_MAPPINGS`.
"""

from __future__ import annotations

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
from impasto.nodes.math import ImpastoFloatMath, ImpastoIntMath
from impasto.nodes.postprocessing import ImageBlend, ImageBlur, ImageQuantize, ImageSharpen
from impasto.nodes.preview_any import PreviewAny
from impasto.nodes.primitive import (
    PrimitiveBoolean,
    PrimitiveFloat,
    PrimitiveInt,
    PrimitiveString,
    PrimitiveStringMultiline,
)
from impasto.nodes.sd import NODE_CLASS_MAPPINGS as SD_NODES
from impasto.nodes.sd import NODE_DISPLAY_NAME_MAPPINGS as SD_DISPLAY_NAMES

NODE_CLASS_MAPPINGS: dict[str, type] = {
    "SaveImage": SaveImage,
    "PreviewImage": PreviewImage,
    "LoadImage": LoadImage,
    "EmptyImage": EmptyImage,
    "ImageScale": ImageScale,
    "ImageScaleBy": ImageScaleBy,
    "ImageScaleToTotalPixels": ImageScaleToTotalPixels,
    "ImageInvert": ImageInvert,
    "ImageBatch": ImageBatch,
    "ImagePadForOutpaint": ImagePadForOutpaint,
    "ImageCrop": ImageCrop,
    "ImageFromBatch": ImageFromBatch,
    "RepeatImageBatch": RepeatImageBatch,
    "RebatchImages": RebatchImages,
    "ImageBlend": ImageBlend,
    "ImageBlur": ImageBlur,
    "ImageSharpen": ImageSharpen,
    "ImageQuantize": ImageQuantize,
    "PrimitiveInt": PrimitiveInt,
    "PrimitiveFloat": PrimitiveFloat,
    "PrimitiveString": PrimitiveString,
    "PrimitiveStringMultiline": PrimitiveStringMultiline,
    "PrimitiveBoolean": PrimitiveBoolean,
    "PreviewAny": PreviewAny,
    "ImpastoIntMath": ImpastoIntMath,
    "ImpastoFloatMath": ImpastoFloatMath,
    **SD_NODES,
}

NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
    "LoadImage": "Load Image",
    "ImageScale": "Upscale Image",
    "ImageScaleBy": "Upscale Image By",
    "ImageInvert": "Invert Image",
    "ImageBatch": "Batch Images",
    "ImagePadForOutpaint": "Pad Image for Outpainting",
    "ImageCrop": "Image Crop",
    "RebatchImages": "Rebatch Images",
    "PrimitiveInt": "Int",
    "PrimitiveFloat": "Float",
    "PrimitiveString": "String",
    "PrimitiveStringMultiline": "String (Multiline)",
    "PrimitiveBoolean": "Boolean",
    "PreviewAny": "Preview Any",
    "ImpastoIntMath": "Int Math",
    "ImpastoFloatMath": "Float Math",
    **SD_DISPLAY_NAMES,
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
