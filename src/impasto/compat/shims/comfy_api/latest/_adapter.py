"""V3 nodes on the V1 machinery: each `io.ComfyNode` becomes a V1 class the engine runs unchanged.

The V1 class asks the schema afresh in `INPUT_TYPES` (so folder-based combos stay live), reports itself in the
V3 object_info shape (`OBJECT_INFO_V3`), and its function runs `execute` on a fresh subclass of the node with
`hidden` set, then turns the `NodeOutput` into a V1 result. `validate_inputs`, `fingerprint_inputs` and
`check_lazy_status` become VALIDATE_INPUTS, IS_CHANGED and check_lazy_status with the same signatures, so the
engine's signature rules (claimed inputs, `input_types`) apply to them as written.
"""

from __future__ import annotations

import inspect
from typing import Any

from impasto.compat.shims.comfy_api.latest._io import ComfyNode, Hidden, HiddenHolder, NodeOutput, Schema
from impasto.compat.shims.comfy_api.latest._ui import as_ui_dict
from impasto.graph.blocker import ExecutionBlocker

_HIDDEN_NAMES = frozenset(member.name for member in Hidden)


def hidden_inputs(schema: Schema) -> dict[str, str]:
    """The V1 hidden section: what the schema asks for, plus PROMPT/EXTRA_PNGINFO for output nodes and the
    auth values for API nodes."""
    wanted = list(schema.hidden)
    if schema.is_output_node:
        wanted += [Hidden.prompt, Hidden.extra_pnginfo]
    if schema.is_api_node:
        wanted += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org]
    return {member.name: member.value for member in dict.fromkeys(wanted)}


def input_types(schema: Schema) -> dict[str, dict[str, Any]]:
    declared: dict[str, dict[str, Any]] = {"required": {}}
    for item in schema.inputs:
        declared.setdefault("optional" if item.optional else "required", {})[item.id] = item.declaration()
    hidden = hidden_inputs(schema)
    if hidden:
        declared["hidden"] = hidden
    return declared


def to_v1_result(node: type[ComfyNode], schema: Schema, output: Any) -> Any:
    """A V3 return value (NodeOutput, tuple, dict or None) as a V1 one."""
    if output is None:
        return ()
    if not isinstance(output, NodeOutput):
        return output
    if output.block_execution is not None:
        return ExecutionBlocker(output.block_execution)
    result: dict[str, Any] = {"result": output.args}
    ui = as_ui_dict(output.ui)
    if ui is not None:
        result["ui"] = ui
    if output.expand is not None:
        if not schema.enable_expand:
            raise ValueError(f"{schema.node_id} returned an expansion but its schema does not set enable_expand")
        result["expand"] = output.expand
    return result


def v1_class(node: type[ComfyNode]) -> type:
    """The V1 class that stands for a V3 node."""
    schema = node.define_schema()
    if not isinstance(schema, Schema):
        raise TypeError(f"{node.__name__}.define_schema() returned {type(schema).__name__}, not io.Schema")
    hidden_names = set(hidden_inputs(schema))

    def split(kwargs: dict[str, Any]) -> tuple[type[ComfyNode], dict[str, Any]]:
        hidden = {k: kwargs.pop(k) for k in list(kwargs) if k in hidden_names and k in _HIDDEN_NAMES}
        clone = type(node.__name__, (node,), {"hidden": HiddenHolder(hidden)})
        return clone, kwargs

    members: dict[str, Any] = {
        "V3_NODE": node,
        "OBJECT_INFO_V3": True,
        "RETURN_TYPES": tuple(o.io_type for o in schema.outputs),
        "RETURN_NAMES": tuple(o.display_name or o.id or o.io_type for o in schema.outputs),
        "OUTPUT_IS_LIST": tuple(o.is_output_list for o in schema.outputs),
        "OUTPUT_TOOLTIPS": tuple(o.tooltip for o in schema.outputs),
        "FUNCTION": "execute",
        "CATEGORY": schema.category,
        "DESCRIPTION": schema.description,
        "OUTPUT_NODE": schema.is_output_node,
        "INPUT_IS_LIST": schema.is_input_list,
        "NOT_IDEMPOTENT": schema.not_idempotent,
        "DEPRECATED": schema.is_deprecated,
        "EXPERIMENTAL": schema.is_experimental,
        "API_NODE": schema.is_api_node,
        "SEARCH_ALIASES": list(schema.search_aliases),
        "INPUT_TYPES": classmethod(lambda cls: input_types(node.define_schema())),
    }
    if inspect.iscoroutinefunction(node.execute):

        async def execute_async(self: Any, **kwargs: Any) -> Any:
            clone, inputs = split(kwargs)
            return to_v1_result(node, schema, await clone.execute(**inputs))

        members["execute"] = execute_async
    else:

        def execute(self: Any, **kwargs: Any) -> Any:
            clone, inputs = split(kwargs)
            return to_v1_result(node, schema, clone.execute(**inputs))

        members["execute"] = execute
    validate = getattr(node, "validate_inputs", None)
    if validate is not None:
        members["VALIDATE_INPUTS"] = validate
    fingerprint = getattr(node, "fingerprint_inputs", None)
    if fingerprint is not None:
        members["IS_CHANGED"] = fingerprint
    check_lazy = getattr(node, "check_lazy_status", None)
    if check_lazy is not None:
        if inspect.iscoroutinefunction(check_lazy):

            async def check_lazy_async(self: Any, **kwargs: Any) -> Any:
                return await check_lazy(**{k: v for k, v in kwargs.items() if k not in hidden_names})

            members["check_lazy_status"] = check_lazy_async
        else:
            members["check_lazy_status"] = lambda self, **kwargs: check_lazy(
                **{k: v for k, v in kwargs.items() if k not in hidden_names}
            )
    return type(schema.node_id, (), members)
