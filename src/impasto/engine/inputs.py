"""Assembling a node's keyword arguments (execution.md §7.2) and formatting them for error reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from impasto.graph.dynprompt import DynamicPrompt
from impasto.graph.validate import hidden_placeholder
from impasto.protocol.prompt import is_link, link_index

SENSITIVE_KEYS = {"AUTH_TOKEN_COMFY_ORG": "auth_token_comfy_org", "API_KEY_COMFY_ORG": "api_key_comfy_org"}


@dataclass(frozen=True, slots=True)
class Declared:
    """A class's INPUT_TYPES, read once per run."""

    inputs: Mapping[str, tuple[str, Mapping[str, Any]]]  # name -> (section, options) for required/optional
    hidden: Mapping[str, str]

    @classmethod
    def of(cls, node_class: Any) -> Declared:
        declared = node_class.INPUT_TYPES()
        inputs: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for section in ("required", "optional"):
            for name, decl in (declared.get(section) or {}).items():
                options = decl[1] if isinstance(decl, tuple | list) and len(decl) > 1 else {}
                inputs[name] = (section, options if isinstance(options, Mapping) else {})
        hidden = {str(k): str(v) for k, v in (declared.get("hidden") or {}).items()}
        return cls(inputs, hidden)

    def option(self, name: str, key: str) -> Any:
        entry = self.inputs.get(name)
        return None if entry is None else entry[1].get(key)


@dataclass(frozen=True, slots=True)
class RunValues:
    """What hidden inputs are filled from."""

    dynprompt: DynamicPrompt
    extra_data: Mapping[str, Any]
    sensitive: Mapping[str, str]


def gather(
    node_id: str,
    inputs: Mapping[str, Any],
    declared: Declared,
    output_of: Callable[[str], list[list[Any]] | None],
    run: RunValues,
) -> tuple[dict[str, list[Any]], set[str]]:
    """The node's arguments as lists, and the names of linked inputs whose values do not exist yet."""
    data: dict[str, list[Any]] = {}
    missing: set[str] = set()
    for name, value in inputs.items():
        if is_link(value) and not declared.option(name, "rawLink"):
            outputs = output_of(value[0])
            index = link_index(value)
            if outputs is None or index is None or not 0 <= index < len(outputs):
                missing.add(name)
                data[name] = [None]
            else:
                data[name] = outputs[index]
        elif name in declared.inputs:
            data[name] = [value]
    for name, marker in declared.hidden.items():
        data[name] = [hidden_value(marker, node_id, run)]
    return data, missing


def hidden_value(marker: str, node_id: str, run: RunValues) -> Any:
    if marker == "PROMPT":
        return run.dynprompt.get_original_prompt()
    if marker == "DYNPROMPT":
        return run.dynprompt
    if marker == "EXTRA_PNGINFO":
        return run.extra_data.get("extra_pnginfo")
    if marker == "UNIQUE_ID":
        return node_id
    if marker in SENSITIVE_KEYS:
        return run.sensitive.get(SENSITIVE_KEYS[marker])
    return None


def constants_only(node_id: str, inputs: Mapping[str, Any], declared: Declared) -> dict[str, list[Any]]:
    """Arguments before execution (IS_CHANGED): linked inputs None, hidden inputs their placeholders."""
    data: dict[str, list[Any]] = {}
    for name, value in inputs.items():
        if is_link(value):
            data[name] = [None]
        elif name in declared.inputs:
            data[name] = [value]
    for name, marker in declared.hidden.items():
        data[name] = [hidden_placeholder(marker, node_id)]
    return data


def format_value(value: Any) -> Any:
    """An input value for display in `current_inputs`: plain data as is, anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"
