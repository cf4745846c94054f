"""The heavy inputs of a prompt: the model loads it needs, as keys a scheduler can compare across workers.

A node counts as a model load when its category is a loaders category (`loaders`, `advanced/loaders`, as
ComfyUI files CheckpointLoaderSimple, VAELoader, LoraLoader and the other loaders). Its key is its class with
its constant inputs, so the same checkpoint gives the same key in every prompt that loads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from impasto.graph.catalog import NodeDef
from impasto.protocol.prompt import is_link


def is_loader(node_def: NodeDef) -> bool:
    return node_def.category.split("/")[-1] == "loaders"


def heavy_inputs(prompt: Mapping[str, Any], catalog: Mapping[str, NodeDef]) -> frozenset[str]:
    keys = set()
    for node in prompt.values():
        if not isinstance(node, dict):
            continue
        class_type = node.get("class_type")
        node_def = catalog.get(class_type) if isinstance(class_type, str) else None
        if node_def is None or not is_loader(node_def):
            continue
        inputs = node.get("inputs") or {}
        constants = {name: value for name, value in sorted(inputs.items()) if not is_link(value)}
        keys.add(f"{node_def.class_type}:{json.dumps(constants, sort_keys=True, default=str)}")
    return frozenset(keys)
