"""The built-in nodes through the engine: object_info shapes, saving, caching, and re-runs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from impasto.config import Settings
from impasto.engine.events import Event, PreviewEvent
from impasto.engine.runner import RunResult, RunStatus
from impasto.protocol.events import EventType
from impasto.workers.child import EmbeddedRunner, core_registry

SAVE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 4, "batch_size": 2, "color": 0xFF0000}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "sub/run"}},
}


@pytest.fixture
def runner(folders, configure_nodes):
    return EmbeddedRunner(Settings(folders=folders))


def run(
    runner: EmbeddedRunner, prompt: dict[str, Any], extra: dict[str, Any] | None = None
) -> tuple[RunResult, list[Event | PreviewEvent]]:
    validation = runner.validate(prompt)
    assert validation.ok, (validation.error, validation.node_errors)
    events: list[Event | PreviewEvent] = []
    result = runner.run(validation, extra or {"client_id": "c"}, events.append)
    return result, events


def test_empty_image_object_info_matches_comfyui():
    info = core_registry().object_info("EmptyImage")
    assert info == {
        "input": {
            "required": {
                "width": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
                "height": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
                "color": ["INT", {"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"}],
            }
        },
        "input_order": {"required": ["width", "height", "batch_size", "color"]},
        "is_input_list": False,
        "output": ["IMAGE"],
        "output_is_list": [False],
        "output_name": ["IMAGE"],
        "name": "EmptyImage",
        "display_name": "EmptyImage",
        "description": "",
        "python_module": "nodes",
        "category": "image",
        "output_node": False,
        "search_aliases": [],
    }


def test_rebatch_images_reports_the_v3_shape():
    info = core_registry().object_info("RebatchImages")
    assert info["display_name"] == "Rebatch Images"
    assert info["python_module"] == "comfy_extras.nodes_rebatch"
    assert info["input"]["required"]["images"] == ["IMAGE", {}]
    assert info["output_is_list"] == [True]
    assert info["is_input_list"] is True
    assert info["output_tooltips"] == [None]
    assert (info["deprecated"], info["experimental"], info["api_node"]) == (False, False, False)


def test_v3_nodes_without_a_schema_display_name_report_null():
    info = core_registry().all_object_info()
    assert {name: info[name]["display_name"] for name in ("ImageBlend", "ImageBlur", "ImageSharpen")} == {
        "ImageBlend": None,
        "ImageBlur": None,
        "ImageSharpen": None,
    }


def test_every_built_in_class_is_registered_and_described():
    info = core_registry().all_object_info()
    assert {"SaveImage", "PreviewImage", "LoadImage", "RebatchImages", "PreviewAny", "ImpastoIntMath"} <= set(info)
    json.dumps(info)  # the catalog is plain JSON


def test_save_image_writes_pngs_with_prompt_and_workflow(runner, folders):
    workflow: dict[str, Any] = {"nodes": [], "links": []}
    result, _ = run(runner, SAVE, {"client_id": "c", "extra_pnginfo": {"workflow": workflow}})
    assert result.status is RunStatus.SUCCESS
    images = result.outputs["3"]["images"]
    assert images == [
        {"filename": "run_00001_.png", "subfolder": "sub", "type": "output"},
        {"filename": "run_00002_.png", "subfolder": "sub", "type": "output"},
    ]
    with PngImageFile(folders.output / "sub" / "run_00001_.png") as png:
        assert png.size == (8, 4)
        assert np.asarray(png.convert("RGB"))[0, 0].tolist() == [0, 255, 255]
        assert json.loads(png.text["prompt"])["3"]["class_type"] == "SaveImage"
        assert json.loads(png.text["workflow"]) == workflow


def test_identical_rerun_writes_no_new_file_and_reports_the_same_images(runner, folders):
    first, _ = run(runner, SAVE)
    again, events = run(runner, SAVE)
    assert sorted(p.name for p in (folders.output / "sub").iterdir()) == ["run_00001_.png", "run_00002_.png"]
    assert again.outputs == first.outputs
    assert again.executed == []
    executed = [dict(e.data) for e in events if isinstance(e, Event) and e.type is EventType.EXECUTED]
    assert executed[0]["output"] == first.outputs["3"]


def test_a_changed_input_saves_new_files_after_the_old_ones(runner, folders):
    run(runner, SAVE)
    changed = json.loads(json.dumps(SAVE))
    changed["1"]["inputs"]["color"] = 0x00FF00
    result, _ = run(runner, changed)
    assert [i["filename"] for i in result.outputs["3"]["images"]] == ["run_00003_.png", "run_00004_.png"]


def test_preview_image_goes_to_temp(runner, folders):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": 0}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    result, _ = run(runner, prompt)
    image = result.outputs["2"]["images"][0]
    assert image["type"] == "temp"
    assert (folders.temp / image["subfolder"] / image["filename"]).is_file()


def test_a_prefix_escaping_the_output_folder_fails_the_node(runner):
    prompt = json.loads(json.dumps(SAVE))
    prompt["3"]["inputs"]["filename_prefix"] = "../../escape"
    result, _ = run(runner, prompt)
    assert result.status is RunStatus.ERROR
    assert result.error is not None and result.error["node_id"] == "3"


def test_load_image_feeds_the_graph_and_its_file_hash_keys_the_cache(runner, folders):
    pixels = np.zeros((3, 5, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    Image.fromarray(pixels, "RGBA").save(folders.input / "in.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "loaded"}},
    }
    first, _ = run(runner, prompt)
    assert first.status is RunStatus.SUCCESS
    assert (folders.output / "loaded_00001_.png").is_file()
    again, _ = run(runner, prompt)
    assert again.executed == []
    pixels[..., 0] = 200
    Image.fromarray(pixels, "RGBA").save(folders.input / "in.png")
    changed, _ = run(runner, prompt)
    assert "1" in changed.executed


def test_math_chain_computes(runner):
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 6}},
        "2": {"class_type": "ImpastoIntMath", "inputs": {"a": ["1", 0], "b": 7, "op": "multiply"}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    result, _ = run(runner, prompt)
    assert result.outputs["3"] == {"text": ["42"]}


def test_validation_of_an_unknown_image_reports_the_custom_error(runner):
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    validation = runner.validate(prompt)
    assert validation.error is not None
    errors = validation.node_errors["1"]["errors"]
    assert errors[0]["type"] == "custom_validation_failed"
    assert errors[0]["details"] == "image - Invalid image file: missing.png"
