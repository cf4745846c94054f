"""Primitive value nodes: a constant INT, FLOAT, STRING or BOOLEAN (V3 nodes in ComfyUI, reported in their V3 shape)."""

from __future__ import annotations

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

# ComfyUI declares these bounds as ±sys.maxsize; spelled out so object_info is the same on every platform.
INT_LIMIT = 2**63 - 1


class _Primitive:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_primitive"
    OBJECT_INFO_V3 = True
    OUTPUT_TOOLTIPS = (None,)
    FUNCTION = "execute"
    CATEGORY = "utils/primitive"
    DESCRIPTION = ""
    DEPRECATED = False
    EXPERIMENTAL = False
    API_NODE = False


class PrimitiveInt(_Primitive):
    RETURN_TYPES = ("INT",)

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"value": ("INT", {"min": -INT_LIMIT, "max": INT_LIMIT, "control_after_generate": True})}}

    def execute(self, value: int) -> tuple[int]:
        return (value,)


class PrimitiveFloat(_Primitive):
    RETURN_TYPES = ("FLOAT",)

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        # The bounds are ints on purpose: ComfyUI reports them as JSON integers.
        return {"required": {"value": ("FLOAT", {"min": -INT_LIMIT, "max": INT_LIMIT})}}

    def execute(self, value: float) -> tuple[float]:
        return (value,)


class PrimitiveString(_Primitive):
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"value": ("STRING", {"multiline": False})}}

    def execute(self, value: str) -> tuple[str]:
        return (value,)


class PrimitiveStringMultiline(_Primitive):
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"value": ("STRING", {"multiline": True})}}

    def execute(self, value: str) -> tuple[str]:
        return (value,)


class PrimitiveBoolean(_Primitive):
    RETURN_TYPES = ("BOOLEAN",)

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"value": ("BOOLEAN", {})}}

    def execute(self, value: bool) -> tuple[bool]:
        return (value,)
