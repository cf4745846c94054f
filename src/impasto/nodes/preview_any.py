"""PreviewAny: shows any value as text in the node (an output node, so a chain of values can run)."""

from __future__ import annotations

import json
from typing import Any

InputTypes = dict[str, dict[str, tuple[object, ...]]]


class PreviewAny:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_preview_any"
    RETURN_TYPES = ()
    FUNCTION = "main"
    OUTPUT_NODE = True
    CATEGORY = "utils"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"source": ("*", {})}}

    def main(self, source: Any = None) -> dict[str, dict[str, list[str]]]:
        return {"ui": {"text": [as_text(source)]}}


def as_text(value: Any) -> str:
    """Strings as they are, plain data as JSON, anything else by its str()."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2)
    except (TypeError, ValueError):
        return str(value)
