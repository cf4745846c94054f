"""Heavy inputs: the model loads a prompt needs, keyed by loader class and constant inputs."""

from __future__ import annotations

from impasto.graph.catalog import NodeDef
from impasto.graph.heavy import heavy_inputs


def node_def(class_type: str, category: str) -> NodeDef:
    entry = {"object_info": {"input": {"required": {}}, "output": [], "category": category}}
    return NodeDef.from_entry(class_type, entry)  # type: ignore[arg-type]


CATALOG = {
    "CheckpointLoaderSimple": node_def("CheckpointLoaderSimple", "loaders"),
    "DiffusersLoader": node_def("DiffusersLoader", "advanced/loaders"),
    "KSampler": node_def("KSampler", "sampling"),
}


def test_loader_nodes_give_one_key_per_distinct_load():
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
        "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
        "3": {"class_type": "DiffusersLoader", "inputs": {"model_path": "b", "other": ["9", 0]}},
        "4": {"class_type": "KSampler", "inputs": {"seed": 1, "model": ["1", 0]}},
        "5": {"class_type": "Unknown", "inputs": {}},
    }
    assert heavy_inputs(prompt, CATALOG) == {
        'CheckpointLoaderSimple:{"ckpt_name": "a.safetensors"}',
        'DiffusersLoader:{"model_path": "b"}',
    }
    assert heavy_inputs({"4": prompt["4"]}, CATALOG) == frozenset()
