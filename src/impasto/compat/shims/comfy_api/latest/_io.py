"""`comfy_api.latest.io`: the V3 node schema (node-api.md §6), as data that maps onto a V1 declaration.

A type class (`Int`, `Image`, `Custom("X")`, ...) names a V1 type string; its `Input` and `Output` build the
V1 declaration `(TYPE, {options})` and output slot. A node subclasses `ComfyNode` and implements classmethods
only; `impasto.compat.shims.comfy_api.latest._adapter` turns it into a V1 class for the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

# V3 keyword -> V1 option key; options not listed keep their name.
_OPTION_KEYS = {
    "display_mode": "display",
    "force_input": "forceInput",
    "raw_link": "rawLink",
    "dynamic_prompts": "dynamicPrompts",
    "upload": "image_upload",
}


class Input:
    """One input of a schema: its id, V1 type (`io_type`, set by each type's Input class), section and options."""

    io_type: str = "*"

    def __init__(
        self,
        id: str,
        display_name: str | None = None,
        optional: bool = False,
        tooltip: str | None = None,
        lazy: bool | None = None,
        extra_dict: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.id = id
        self.optional = optional
        self.options: dict[str, Any] = {}
        for key, value in {"display_name": display_name, "tooltip": tooltip, "lazy": lazy, **options}.items():
            if value is not None:
                self.options[_OPTION_KEYS.get(key, key)] = value.value if isinstance(value, StrEnum) else value
        self.options.update(extra_dict or {})

    def declaration(self) -> tuple[str, dict[str, Any]]:
        return (self.io_type, dict(self.options))


class Output:
    """One output slot of a schema."""

    io_type: str = "*"

    def __init__(
        self,
        id: str | None = None,
        display_name: str | None = None,
        tooltip: str | None = None,
        is_output_list: bool = False,
    ) -> None:
        self.id = id
        self.display_name = display_name
        self.tooltip = tooltip
        self.is_output_list = is_output_list


class ComfyType:
    """A V3 type: `io_type` is its V1 type string; `Input` and `Output` declare sockets of it."""

    io_type: ClassVar[str] = "*"
    Input: ClassVar[type[Input]] = Input
    Output: ClassVar[type[Output]] = Output


def _type(name: str, io_type: str) -> type[ComfyType]:
    bound_input = type("Input", (Input,), {"io_type": io_type})
    bound_output = type("Output", (Output,), {"io_type": io_type})
    return type(name, (ComfyType,), {"io_type": io_type, "Input": bound_input, "Output": bound_output})


Int = _type("Int", "INT")
Float = _type("Float", "FLOAT")
String = _type("String", "STRING")
Boolean = _type("Boolean", "BOOLEAN")
Image = _type("Image", "IMAGE")
Mask = _type("Mask", "MASK")
Latent = _type("Latent", "LATENT")
Conditioning = _type("Conditioning", "CONDITIONING")
Sampler = _type("Sampler", "SAMPLER")
Sigmas = _type("Sigmas", "SIGMAS")
Noise = _type("Noise", "NOISE")
Guider = _type("Guider", "GUIDER")
Clip = _type("Clip", "CLIP")
ControlNet = _type("ControlNet", "CONTROL_NET")
Vae = _type("Vae", "VAE")
Model = _type("Model", "MODEL")
ClipVision = _type("ClipVision", "CLIP_VISION")
ClipVisionOutput = _type("ClipVisionOutput", "CLIP_VISION_OUTPUT")
StyleModel = _type("StyleModel", "STYLE_MODEL")
Gligen = _type("Gligen", "GLIGEN")
UpscaleModel = _type("UpscaleModel", "UPSCALE_MODEL")
Audio = _type("Audio", "AUDIO")
Video = _type("Video", "VIDEO")
AnyType = _type("AnyType", "*")


class _ComboInput(Input):
    io_type = "COMBO"

    def __init__(self, id: str, options: Any = None, multiselect: bool = False, **kwargs: Any) -> None:
        if isinstance(options, type) and issubclass(options, StrEnum):
            options = [member.value for member in options]
        super().__init__(id, **kwargs)
        self.options = {"multiselect": bool(multiselect), "options": list(options or []), **self.options}


class Combo(ComfyType):
    """A choice among `options`, declared as `["COMBO", {"multiselect": false, "options": [...], ...}]`."""

    io_type = "COMBO"
    Input = _ComboInput
    Output = type("Output", (Output,), {"io_type": "COMBO"})


def Custom(io_type: str) -> type[ComfyType]:  # ComfyUI's name
    """A type class for a pack's own socket type."""
    return _type(io_type, io_type)


class _MultiTypeInput(Input):
    def __init__(self, id: str | Input, types: list[type[ComfyType]], **kwargs: Any) -> None:
        super().__init__(id.id if isinstance(id, Input) else id, **kwargs)
        self.io_type = ",".join(t.io_type for t in types)


class MultiType:
    """An input accepting any of several types (a V1 comma union)."""

    Input = _MultiTypeInput


class _MatchInput(Input):
    def __init__(self, id: str, template: Any = None, **kwargs: Any) -> None:
        super().__init__(id, **kwargs)


class _MatchOutput(Output):
    def __init__(self, template: Any = None, id: str | None = None, **kwargs: Any) -> None:
        super().__init__(id, **kwargs)


@dataclass(slots=True)
class _Template:
    template_id: str
    allowed_types: Any = None


class MatchType:
    """Inputs and outputs that share the type of what is linked: declared with V1's "any" type."""

    Template = _Template
    Input = _MatchInput
    Output = _MatchOutput


class Hidden(StrEnum):
    """Hidden inputs a schema asks for; the value is the V1 marker, the lowercase name the argument."""

    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class NumberDisplay(StrEnum):
    number = "number"
    slider = "slider"


@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    description: str = ""
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    search_aliases: list[str] = field(default_factory=list)
    is_output_node: bool = False
    is_input_list: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False


class HiddenHolder:
    """`cls.hidden` during an execution: the hidden values the engine filled (None when not asked for)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.unique_id: str | None = values.get("unique_id")
        self.prompt: Any = values.get("prompt")
        self.extra_pnginfo: Any = values.get("extra_pnginfo")
        self.dynprompt: Any = values.get("dynprompt")
        self.auth_token_comfy_org: str | None = values.get("auth_token_comfy_org")
        self.api_key_comfy_org: str | None = values.get("api_key_comfy_org")


class NodeOutput:
    """What `execute` returns: output values, and optionally `ui`, `expand` (a graph) or `block_execution`."""

    def __init__(
        self, *args: Any, ui: Any = None, expand: dict[str, Any] | None = None, block_execution: str | None = None
    ) -> None:
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple[Any, ...] | None:
        return self.args or None


class ComfyNode:
    """A V3 node: classmethods only. The engine runs a fresh subclass per execution, with `hidden` set."""

    hidden: ClassVar[HiddenHolder] = HiddenHolder({})

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError(f"{cls.__name__} does not define its schema")

    @classmethod
    def execute(cls, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{cls.__name__} does not implement execute")


__all__ = [
    "AnyType",
    "Audio",
    "Boolean",
    "Clip",
    "Combo",
    "ComfyNode",
    "Conditioning",
    "Custom",
    "Float",
    "Hidden",
    "Image",
    "Input",
    "Int",
    "Latent",
    "Mask",
    "MatchType",
    "Model",
    "MultiType",
    "NodeOutput",
    "NumberDisplay",
    "Output",
    "Schema",
    "String",
    "Vae",
    "Video",
]
