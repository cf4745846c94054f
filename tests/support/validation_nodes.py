"""Node classes for the validation suite: typed sinks, combos, any-types and VALIDATE_INPUTS variants.

Every class that records what VALIDATE_INPUTS received appends to `Seen.calls` (cleared by `Seen.reset()`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class Seen:
    """What VALIDATE_INPUTS methods received, as (class name, kwargs) pairs."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    @classmethod
    def record(cls, name: str, kwargs: dict[str, Any]) -> None:
        cls.calls.append((name, dict(kwargs)))

    @classmethod
    def of(cls, name: str) -> list[dict[str, Any]]:
        return [kwargs for n, kwargs in cls.calls if n == name]

    @classmethod
    def reset(cls) -> None:
        cls.calls.clear()


class AnyType(str):
    """The "any type" idiom of custom packs: never different from anything."""

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


ANYTHING = AnyType("ANYTHING")


class Sink:
    """An output node with one input of every coerced type, each with a range or none."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {},
            "optional": {
                "i": ("INT", {"default": 0, "min": -10, "max": 10}),
                "f": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0}),
                "s": ("STRING", {"default": ""}),
                "b": ("BOOLEAN", {"default": False}),
                "big": ("INT", {"default": 0}),
                "real": ("FLOAT", {"default": 0.0}),
                "curve": ("CURVE",),
            },
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, **kwargs):
        return {"ui": {"keys": sorted(kwargs)}}


class Needs:
    """An output node with one required and one optional input."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}, "optional": {"extra": ("INT", {"default": 1})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value, extra=1):
        return {"ui": {"text": [str(value + extra)]}}


class FloatOut:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"

    def run(self):
        return (0.5,)


class StringOut:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    def run(self):
        return ("text",)


class StarOut:
    """Declares its output as a plain `"*"`."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("*",)
    FUNCTION = "run"

    def run(self):
        return (1,)


class AnyOut:
    """Declares its output with the custom any-type."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = (ANYTHING,)
    FUNCTION = "run"

    def run(self):
        return (1,)


class IntSink:
    """An output node that takes an INT."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"text": [repr(value)]}}


class UnionSink:
    """An output node whose input is the comma union `FLOAT,INT`."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT,INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"text": [repr(value)]}}


class AnySink:
    """An output node whose input has the custom any-type."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANYTHING,)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"text": [repr(value)]}}


COLORS = ["red", "green", "blue"]
MANY = [f"option{i}" for i in range(25)]


class Combos:
    """An output node with the three combo forms."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {},
            "optional": {
                "color": (COLORS, {"default": "red"}),
                "shape": ("COMBO", {"options": ["circle", "square"]}),
                "many": (MANY,),
            },
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, **kwargs):
        return {"ui": {"keys": sorted(kwargs)}}


class TypesSelf:
    """Takes `input_types`: checks its link types itself (a STRING link to its INT input is accepted)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, input_types, value=None):
        Seen.record("TypesSelf", {"input_types": input_types, "value": value})
        return True

    def run(self, value):
        return {"ui": {"text": [repr(value)]}}


class ClaimRange:
    """VALIDATE_INPUTS names `value` and `color`: their range and combo checks are its own."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "value": ("INT", {"default": 0, "min": 0, "max": 10}),
                "color": (COLORS,),
                "other": ("INT", {"default": 0, "min": 0, "max": 10}),
            }
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, value, color):
        Seen.record("ClaimRange", {"value": value, "color": color})
        return True

    def run(self, value, color, other):
        return {"ui": {"text": [repr(value)]}}


class ClaimAll:
    """VALIDATE_INPUTS takes `**kwargs`: it claims every input."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value": ("INT", {"default": 0, "min": 0, "max": 10}), "color": (COLORS,)},
            "optional": {"link": ("INT",)},
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs):
        Seen.record("ClaimAll", kwargs)
        return True

    def run(self, value, color, link=None):
        return {"ui": {"text": [repr(value)]}}


class Refuse:
    """VALIDATE_INPUTS returns False."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, value):
        return False

    def run(self, value):
        return {"ui": {"text": [repr(value)]}}


class RefusePair:
    """VALIDATE_INPUTS names two inputs and rejects them with a reason."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT",), "b": ("STRING",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, a, b):
        return f"{a} and {b} do not go together"

    def run(self, a, b):
        return {"ui": {"text": [f"{a}{b}"]}}


class RaiseOut:
    """An output node whose VALIDATE_INPUTS raises."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, value):
        raise ValueError(f"cannot validate {value}")

    def run(self, value):
        return {"ui": {"text": [repr(value)]}, "result": (value,)}


class AsyncValidated:
    """An async VALIDATE_INPUTS: rejects negative values."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    async def VALIDATE_INPUTS(cls, value):
        Seen.record("AsyncValidated", {"value": value})
        return True if value >= 0 else "negative"

    def run(self, value):
        return {"ui": {"text": [repr(value)]}}


class HiddenValidated:
    """VALIDATE_INPUTS names every hidden input and one linked input."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value": ("INT",), "link": ("INT",)},
            "hidden": {
                "prompt": "PROMPT",
                "dynprompt": "DYNPROMPT",
                "extra_pnginfo": "EXTRA_PNGINFO",
                "unique_id": "UNIQUE_ID",
                "auth": "AUTH_TOKEN_COMFY_ORG",
                "api_key": "API_KEY_COMFY_ORG",
            },
        }

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def VALIDATE_INPUTS(cls, value, link, prompt, dynprompt, extra_pnginfo, unique_id, auth, api_key):
        Seen.record(
            "HiddenValidated",
            {
                "value": value,
                "link": link,
                "prompt": prompt,
                "dynprompt": dynprompt,
                "extra_pnginfo": extra_pnginfo,
                "unique_id": unique_id,
                "auth": auth,
                "api_key": api_key,
            },
        )
        return True

    def run(self, value, link, **hidden):
        return {"ui": {"text": [repr(value)]}}


class Loop:
    """A pass-through with a lazy and a plain INT input (for building cycles); takes undeclared links too."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT",)}, "optional": {"lazy": ("INT", {"lazy": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def check_lazy_status(self, a=None, lazy=None, **undeclared):
        return []

    def run(self, a, lazy=None, **undeclared):
        return (a,)


ALL: dict[str, type] = {
    name: obj
    for name, obj in dict(globals()).items()
    if isinstance(obj, type) and hasattr(obj, "INPUT_TYPES") and hasattr(obj, "FUNCTION")
}
