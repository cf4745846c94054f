"""The API-format prompt: nodes, links and wrapped constant lists (execution.md §2)."""

from __future__ import annotations

import uuid
from typing import Any, NotRequired, TypedDict, TypeGuard

Link = list[Any]  # [source node id, output index]


class NodeMeta(TypedDict, total=False):
    title: str


class PromptNode(TypedDict):
    class_type: str
    inputs: dict[str, Any]
    _meta: NotRequired[NodeMeta]
    is_changed: NotRequired[Any]
    override_display_id: NotRequired[str]


Prompt = dict[str, PromptNode]

VALUE_KEY = "__value__"
_NUMBER = (int, float)  # a tuple: `int | float` would build a union object at every call of a hot check


def is_link(value: object) -> TypeGuard[Link]:
    """True for a two-element list whose first element is a str and second an int or float."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], _NUMBER)
        and not isinstance(value[1], bool)
    )


def link_index(link: Link) -> int | None:
    """The output index of a link, or None when it is not a whole number."""
    index = link[1]
    if isinstance(index, float):
        if not index.is_integer():
            return None
        return int(index)
    return int(index)


def unwrap_value(value: object) -> object:
    """The constant inside a `{"__value__": ...}` wrapper, or the value itself."""
    if isinstance(value, dict) and VALUE_KEY in value:
        return value[VALUE_KEY]
    return value


def plain_number(number: float) -> int | float:
    """A job's `number` as ComfyUI writes it: a whole number without the `.0`."""
    return int(number) if float(number).is_integer() else number


def is_canonical_uuid(value: object) -> bool:
    """A job id as ComfyUI accepts one: a lowercase hyphenated UUID string (`str(uuid.UUID(x)) == x`)."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
