"""`comfy.comfy_types.node_typing`: type names and typing helpers for V1 node classes (node-api.md §4.4).

Everything here is for authors and type checkers; inheriting `ComfyNodeABC` or using `IO` changes nothing at
run time, except that `IO` members compare like ComfyUI's link type check (`IO.ANY` matches everything and a
comma union matches its members).
"""

from __future__ import annotations

from abc import ABC
from enum import StrEnum
from typing import Any, ClassVar, Literal, NotRequired, TypedDict


class StrEnumCompare(StrEnum):
    """A type-name enum whose `!=` is the link compatibility test of ComfyUI's validation."""

    def __ne__(self, value: object) -> bool:
        if self == "*" or value == "*":
            return False
        if not isinstance(value, str):
            return True
        mine = frozenset(part.strip() for part in str.__str__(self).split(","))
        theirs = frozenset(part.strip() for part in value.split(","))
        return not (mine <= theirs or theirs <= mine)

    def __eq__(self, value: object) -> bool:
        return str.__eq__(self, value)

    def __hash__(self) -> int:
        return str.__hash__(self)


class IO(StrEnumCompare):
    """The type names of ComfyUI's core sockets and widgets."""

    STRING = "STRING"
    IMAGE = "IMAGE"
    MASK = "MASK"
    LATENT = "LATENT"
    BOOLEAN = "BOOLEAN"
    INT = "INT"
    FLOAT = "FLOAT"
    COMBO = "COMBO"
    CONDITIONING = "CONDITIONING"
    SAMPLER = "SAMPLER"
    SIGMAS = "SIGMAS"
    GUIDER = "GUIDER"
    NOISE = "NOISE"
    CLIP = "CLIP"
    CONTROL_NET = "CONTROL_NET"
    VAE = "VAE"
    MODEL = "MODEL"
    LORA_MODEL = "LORA_MODEL"
    LOSS_MAP = "LOSS_MAP"
    CLIP_VISION = "CLIP_VISION"
    CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
    STYLE_MODEL = "STYLE_MODEL"
    GLIGEN = "GLIGEN"
    UPSCALE_MODEL = "UPSCALE_MODEL"
    AUDIO = "AUDIO"
    WEBCAM = "WEBCAM"
    POINT = "POINT"
    FACE_ANALYSIS = "FACE_ANALYSIS"
    BBOX = "BBOX"
    SEGS = "SEGS"
    VIDEO = "VIDEO"
    ANY = "*"
    NUMBER = "FLOAT,INT"
    PRIMITIVE = "STRING,FLOAT,INT,BOOLEAN"


class InputTypeDict(TypedDict, total=False):
    """What `INPUT_TYPES` returns: sections of input name -> declaration."""

    required: dict[str, tuple[Any, ...]]
    optional: dict[str, tuple[Any, ...]]
    hidden: dict[str, str]


class FileLocator(TypedDict):
    """One file of a `ui` result: `{"filename", "subfolder", "type"}`."""

    filename: str
    subfolder: str
    type: Literal["input", "output", "temp"]


class InputTypeOptions(TypedDict, total=False):
    default: Any
    min: float
    max: float
    step: float
    tooltip: str
    lazy: bool
    rawLink: bool
    forceInput: bool
    multiline: bool
    display: str
    control_after_generate: bool


class HiddenInputTypeDict(TypedDict, total=False):
    prompt: Literal["PROMPT"]
    dynprompt: Literal["DYNPROMPT"]
    extra_pnginfo: Literal["EXTRA_PNGINFO"]
    unique_id: Literal["UNIQUE_ID"]
    auth_token_comfy_org: NotRequired[Literal["AUTH_TOKEN_COMFY_ORG"]]
    api_key_comfy_org: NotRequired[Literal["API_KEY_COMFY_ORG"]]


class ComfyNodeABC(ABC):  # documents the V1 members; nothing is abstract, nothing is enforced
    """The members of a V1 node class, for type checkers. Inheriting it adds no behaviour."""

    DESCRIPTION: ClassVar[str]
    CATEGORY: ClassVar[str]
    RETURN_TYPES: ClassVar[tuple[str, ...]]
    RETURN_NAMES: ClassVar[tuple[str, ...]]
    OUTPUT_TOOLTIPS: ClassVar[tuple[str, ...]]
    OUTPUT_IS_LIST: ClassVar[tuple[bool, ...]]
    FUNCTION: ClassVar[str]
    OUTPUT_NODE: ClassVar[bool]
    INPUT_IS_LIST: ClassVar[bool]
    NOT_IDEMPOTENT: ClassVar[bool]
    DEPRECATED: ClassVar[bool]
    EXPERIMENTAL: ClassVar[bool]
    API_NODE: ClassVar[bool]


class CheckLazyMixin:
    """A default `check_lazy_status`: every lazy input that has no value yet is needed."""

    def check_lazy_status(self, **kwargs: Any) -> list[str]:
        declared = type(self).INPUT_TYPES()  # type: ignore[attr-defined]  # the node class defines it
        lazy = [
            name
            for section in ("required", "optional")
            for name, declaration in (declared.get(section) or {}).items()
            if isinstance(declaration, tuple | list)
            and len(declaration) > 1
            and isinstance(declaration[1], dict)
            and declaration[1].get("lazy")
        ]
        return [name for name in lazy if kwargs.get(name) is None]


__all__ = [
    "IO",
    "CheckLazyMixin",
    "ComfyNodeABC",
    "FileLocator",
    "HiddenInputTypeDict",
    "InputTypeDict",
    "InputTypeOptions",
    "StrEnumCompare",
]
