"""UI workflows as the frontend saves them, converted to API prompts from the node definitions (frontend.md §10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impasto.engine.registry import NodeRegistry
from impasto.engine.validation import validate_locally
from impasto.graph.ui_convert import UiWorkflowError, is_ui_workflow, ui_to_api, widget_values
from impasto.workers.child import core_registry
from tests.support import seed_nodes

WORKFLOWS = Path(__file__).resolve().parent.parent / "support" / "ui_workflows"


def load(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text())


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    registry = core_registry()
    registry.register_mappings(seed_nodes.NODE_CLASS_MAPPINGS, source="seed_nodes")
    return registry


@pytest.fixture(scope="module")
def object_info(registry) -> dict:
    return {name: entry["object_info"] for name, entry in registry.catalog_entries().items()}


def test_widget_values_become_inputs_in_order_and_links_become_references(object_info, registry):
    workflow = load("invert.json")
    assert is_ui_workflow(workflow)
    prompt = ui_to_api(workflow, object_info).prompt
    assert prompt == {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 16711680},
            "_meta": {"title": "EmptyImage"},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "Invert Image"}},
        "3": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["2", 0], "blur_radius": 2, "sigma": 1.5},
            "_meta": {"title": "Soften"},
        },
        "4": {
            "class_type": "SaveImage",
            "inputs": {"images": ["3", 0], "filename_prefix": "cli_invert"},
            "_meta": {"title": "Save Image"},
        },
    }
    assert validate_locally(prompt, registry).ok


def test_positional_values_alone_give_the_same_prompt(object_info):
    workflow = load("invert.json")
    for node in workflow["nodes"]:
        del node["widgets_values_named"]
    assert ui_to_api(workflow, object_info).prompt == ui_to_api(load("invert.json"), object_info).prompt


def test_reroutes_bypassed_muted_primitive_and_note_nodes(object_info, registry):
    conversion = ui_to_api(load("virtual_nodes.json"), object_info)
    prompt = conversion.prompt
    # Reroute (2), PrimitiveNodes (6, 9), the muted preview (5), the bypassed blur (3) and the note (8) are gone.
    assert sorted(prompt, key=int) == ["1", "4", "7", "10", "11"]
    assert prompt["1"]["inputs"] == {"seed": 1234}  # the control value after the seed is not an input
    assert prompt["4"]["inputs"] == {"image": ["1", 0]}  # through the bypassed blur and the reroute
    assert prompt["7"]["inputs"] == {"images": ["4", 0], "filename_prefix": "cli_primitive"}
    assert prompt["10"]["inputs"] == {"seed": 77}  # the primitive's value
    assert conversion.controls == {"1.seed": "increment", "10.seed": "randomize"}  # the primitive's control
    assert validate_locally(prompt, registry).ok


def test_an_input_fed_only_by_a_muted_node_is_left_out(object_info, registry):
    workflow = load("virtual_nodes.json")
    next(n for n in workflow["nodes"] if n["id"] == 1)["mode"] = 2
    prompt = ui_to_api(workflow, object_info).prompt
    assert "1" not in prompt and "image" not in prompt["4"]["inputs"]
    result = validate_locally(prompt, registry)
    assert [e["type"] for e in result.node_errors["4"]["errors"]] == ["required_input_missing"]


def test_subgraphs_are_flattened_with_promoted_widget_values(object_info, registry):
    prompt = ui_to_api(load("subgraph.json"), object_info).prompt
    assert sorted(prompt) == ["1", "5:10", "5:11", "6"]
    assert prompt["5:10"]["inputs"] == {"image": ["1", 0]}
    assert prompt["5:11"]["inputs"] == {"image": ["5:10", 0], "blur_radius": 5, "sigma": 0.5}  # host's value
    assert prompt["6"]["inputs"]["images"] == ["5:11", 0]
    assert validate_locally(prompt, registry).ok


def test_a_bypassed_subgraph_passes_its_input_through(object_info):
    workflow = load("subgraph.json")
    workflow["nodes"][1]["mode"] = 4
    prompt = ui_to_api(workflow, object_info).prompt
    assert sorted(prompt) == ["1", "6"] and prompt["6"]["inputs"]["images"] == ["1", 0]


def test_node_types_the_server_lacks_are_listed_by_name(object_info):
    with pytest.raises(UiWorkflowError) as caught:
        ui_to_api(load("missing_nodes.json"), object_info)
    assert caught.value.missing == ("UltraSharpUpscaler", "FaceDetailerPro")  # not the muted one
    assert "UltraSharpUpscaler, FaceDetailerPro" in str(caught.value)


def test_upload_buttons_and_list_values(object_info, registry):
    node = {"id": 1, "type": "LoadImage", "mode": 0, "inputs": [], "widgets_values": ["cat.png", "image"]}
    load_def = registry.catalog()["LoadImage"]
    assert widget_values(node, load_def) == ({"image": "cat.png"}, {})
    node = {"id": 3, "type": "PreviewAny", "mode": 0, "inputs": [{"name": "source", "type": "*", "link": 1}]}
    const = {"id": 2, "type": "PrimitiveNode", "mode": 0, "outputs": [], "widgets_values": [[1, 2]]}
    workflow = {"nodes": [const, node], "links": [[1, 2, 0, 3, 0, "*"]]}
    assert ui_to_api(workflow, object_info).prompt["3"]["inputs"] == {"source": {"__value__": [1, 2]}}


@pytest.mark.parametrize(
    "workflow",
    [
        {"nodes": [{"id": 1}]},
        {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": [[1, 2]]},
        {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": [{"id": "x", "origin_slot": 0, "target_slot": 0}]},
    ],
)
def test_malformed_workflows_are_refused_with_a_reason(object_info, workflow):
    with pytest.raises(UiWorkflowError):
        ui_to_api(workflow, object_info)


def test_a_reroute_loop_is_refused(object_info):
    loop = [
        {"id": 1, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 2}]},
        {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}]},
        {"id": 3, "type": "PreviewImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 3}]},
    ]
    links = [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"], [3, 1, 0, 3, 0, "IMAGE"]]
    with pytest.raises(UiWorkflowError, match="loop"):
        ui_to_api({"nodes": loop, "links": links}, object_info)


def test_schema_1_links_as_objects_give_the_same_prompt(object_info):
    workflow = load("invert.json")
    keys = ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type")
    workflow["links"] = [dict(zip(keys, link, strict=True)) for link in workflow["links"]]
    workflow["version"] = 1
    assert ui_to_api(workflow, object_info).prompt == ui_to_api(load("invert.json"), object_info).prompt
