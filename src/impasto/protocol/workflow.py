"""The UI workflow a submission carries in `extra_data.extra_pnginfo.workflow` (frontend.md §10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def workflow_id_of(extra_data: Mapping[str, Any]) -> str | None:
    """The id of the UI workflow a submission carries, if it carries one."""
    pnginfo = extra_data.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    workflow_id = workflow.get("id") if isinstance(workflow, dict) else None
    return workflow_id if isinstance(workflow_id, str) else None


def show_item_values(extra_data: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Write a run's own input values (`{"<node id>.<input>": value}`) into the UI workflow it carries, in
    each matching node's `widgets_values_named`, so the workflow saved with its images reloads with them.

    Only top-level nodes that carry `widgets_values_named` change (its positional `widgets_values` has no
    names to match); anything else in `extra_data` is left as it is.
    """
    pnginfo = extra_data.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    if not isinstance(nodes, list) or not values:
        return
    by_id = {str(node.get("id")): node for node in nodes if isinstance(node, dict)}
    for key, value in values.items():
        node_id, _, name = key.rpartition(".")
        named = by_id.get(node_id, {}).get("widgets_values_named")
        if isinstance(named, dict) and name in named:
            named[name] = value
