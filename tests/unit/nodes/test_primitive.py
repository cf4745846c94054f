"""The primitive value nodes."""

from __future__ import annotations

from typing import Any

import pytest

from impasto.nodes.primitive import (
    PrimitiveBoolean,
    PrimitiveFloat,
    PrimitiveInt,
    PrimitiveString,
    PrimitiveStringMultiline,
)

LIMIT = 9223372036854775807


def test_each_primitive_returns_its_value() -> None:
    assert PrimitiveInt().execute(-(2**62)) == (-(2**62),)
    assert PrimitiveFloat().execute(0.25) == (0.25,)
    assert PrimitiveString().execute("a b") == ("a b",)
    assert PrimitiveStringMultiline().execute("a\nb") == ("a\nb",)
    assert PrimitiveBoolean().execute(False) == (False,)


@pytest.mark.parametrize(
    ("cls", "declaration", "output"),
    [
        (PrimitiveInt, ("INT", {"min": -LIMIT, "max": LIMIT, "control_after_generate": True}), "INT"),
        (PrimitiveFloat, ("FLOAT", {"min": -LIMIT, "max": LIMIT}), "FLOAT"),
        (PrimitiveString, ("STRING", {"multiline": False}), "STRING"),
        (PrimitiveStringMultiline, ("STRING", {"multiline": True}), "STRING"),
        (PrimitiveBoolean, ("BOOLEAN", {}), "BOOLEAN"),
    ],
)
def test_declarations_match_comfyui(cls: Any, declaration: tuple[object, ...], output: str) -> None:
    assert cls.INPUT_TYPES() == {"required": {"value": declaration}}
    assert (output,) == cls.RETURN_TYPES
    assert cls.CATEGORY == "utils/primitive"
    assert cls.RELATIVE_PYTHON_MODULE == "comfy_extras.nodes_primitive"


def test_float_bounds_are_integers() -> None:
    options = PrimitiveFloat.INPUT_TYPES()["required"]["value"][1]
    assert isinstance(options, dict)
    assert type(options["min"]) is int and type(options["max"]) is int
