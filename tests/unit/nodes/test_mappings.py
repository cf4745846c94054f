"""The node pack's registration tables and the class conventions the registry relies on."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from impasto.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

V3 = {
    "ImageBlend",
    "ImageBlur",
    "ImageSharpen",
    "ImageQuantize",
    "ImageScaleToTotalPixels",
    "RebatchImages",
    "PrimitiveInt",
    "PrimitiveFloat",
    "PrimitiveString",
    "PrimitiveStringMultiline",
    "PrimitiveBoolean",
}

PYTHON_MODULES = {
    "nodes": {
        "SaveImage",
        "PreviewImage",
        "LoadImage",
        "EmptyImage",
        "ImageScale",
        "ImageScaleBy",
        "ImageInvert",
        "ImageBatch",
        "ImagePadForOutpaint",
    },
    "comfy_extras.nodes_post_processing": {
        "ImageBlend",
        "ImageBlur",
        "ImageSharpen",
        "ImageQuantize",
        "ImageScaleToTotalPixels",
    },
    "comfy_extras.nodes_images": {"ImageCrop", "ImageFromBatch", "RepeatImageBatch"},
    "comfy_extras.nodes_rebatch": {"RebatchImages"},
    "comfy_extras.nodes_primitive": {
        "PrimitiveInt",
        "PrimitiveFloat",
        "PrimitiveString",
        "PrimitiveStringMultiline",
        "PrimitiveBoolean",
    },
    "impasto.nodes.math": {"ImpastoIntMath", "ImpastoFloatMath"},
}

CORE: set[str] = set().union(*PYTHON_MODULES.values())

DISPLAY_NAMES = {
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
}


def test_every_core_class_is_registered_under_its_own_name() -> None:
    assert set(NODE_CLASS_MAPPINGS) >= CORE
    for name in CORE:
        assert NODE_CLASS_MAPPINGS[name].__name__ == name


@pytest.mark.parametrize(("module", "names"), sorted(PYTHON_MODULES.items()))
def test_python_module(module: str, names: set[str]) -> None:
    reported = {name: getattr(NODE_CLASS_MAPPINGS[name], "RELATIVE_PYTHON_MODULE", None) for name in names}
    assert reported == dict.fromkeys(names, module)


def test_display_names() -> None:
    for name, display in DISPLAY_NAMES.items():
        assert NODE_DISPLAY_NAME_MAPPINGS[name] == display
    # V3 nodes without a schema display name, and V1 nodes without a table entry, have none
    for name in ("ImageBlend", "ImageBlur", "ImageSharpen", "ImageQuantize", "ImageScaleToTotalPixels"):
        assert name not in NODE_DISPLAY_NAME_MAPPINGS
    for name in ("EmptyImage", "ImageFromBatch", "RepeatImageBatch"):
        assert name not in NODE_DISPLAY_NAME_MAPPINGS
    assert set(NODE_DISPLAY_NAME_MAPPINGS) <= set(NODE_CLASS_MAPPINGS)


@pytest.mark.parametrize("name", sorted(CORE))
def test_class_shape(name: str) -> None:
    cls: Any = NODE_CLASS_MAPPINGS[name]
    assert inspect.isfunction(getattr(cls, cls.FUNCTION))
    declared = cls.INPUT_TYPES()
    assert set(declared) <= {"required", "optional", "hidden"}
    assert isinstance(cls.RETURN_TYPES, tuple)
    assert isinstance(cls.CATEGORY, str)
    for declaration in declared["required"].values():
        assert isinstance(declaration, tuple) and 1 <= len(declaration) <= 2


@pytest.mark.parametrize("name", sorted(V3))
def test_v3_nodes_report_the_v3_shape(name: str) -> None:
    cls: Any = NODE_CLASS_MAPPINGS[name]
    assert cls.OBJECT_INFO_V3 is True
    assert cls.OUTPUT_TOOLTIPS == (None,)
    assert (cls.DEPRECATED, cls.EXPERIMENTAL, cls.API_NODE) == (False, False, False)
    assert cls.DESCRIPTION == ""
    for type_, options in cls.INPUT_TYPES()["required"].values():
        assert isinstance(type_, str) and isinstance(options, dict)
        if type_ == "COMBO":
            assert set(options) == {"multiselect", "options"} and options["multiselect"] is False


@pytest.mark.parametrize("name", sorted(CORE - V3))
def test_v1_nodes_leave_out_the_v3_fields(name: str) -> None:
    cls: Any = NODE_CLASS_MAPPINGS[name]
    assert not getattr(cls, "OBJECT_INFO_V3", False)
    for attribute in ("OUTPUT_TOOLTIPS", "DEPRECATED", "EXPERIMENTAL", "API_NODE"):
        assert not hasattr(cls, attribute)
    for declaration in cls.INPUT_TYPES().get("required", {}).values():
        assert declaration[0] != "COMBO"
        if declaration[0] in ("IMAGE", "MASK"):
            assert declaration == (declaration[0],) or name == "SaveImage"
