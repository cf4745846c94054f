"""The frontend's default workflow posted to a real server (worker processes, SQLite queue) with a tiny
checkpoint in the models folder: a PNG comes back, the same seed gives the same pixels, and object_info
describes the SD nodes as ComfyUI does."""

from __future__ import annotations

import io
import shutil
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from tests.integration.test_server_process import wait_for
from tests.sd.test_nodes import default_workflow
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def server(tiny_sd, tmp_path_factory):
    base = tmp_path_factory.mktemp("sd_server")
    (base / "models" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_sd.path, base / "models" / "checkpoints" / "tiny.safetensors")
    running = ServerProcess(base, "--cpu").start()
    yield running
    running.stop()


def _finished(server: ServerProcess, prompt_id: str) -> dict:
    def done():
        status, history = server.request("GET", f"/history/{prompt_id}")
        return history.get(prompt_id) if status == 200 and history else None

    return wait_for(done, timeout=240, interval=0.2)


def _pixels(server: ServerProcess, image: dict) -> tuple[tuple[int, int], bytes]:
    query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
    with urllib.request.urlopen(f"{server.url}/view?{query}", timeout=30) as response:
        data = response.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as png:
        return png.size, png.convert("RGB").tobytes()


def test_object_info_describes_the_sd_nodes(server):
    status, info = server.request("GET", "/object_info")
    assert status == 200
    loader = info["CheckpointLoaderSimple"]
    assert loader["input"]["required"]["ckpt_name"][0] == ["tiny.safetensors"]
    assert loader["output"] == ["MODEL", "CLIP", "VAE"] and loader["category"] == "loaders"
    sampler = info["KSampler"]["input"]["required"]
    assert sampler["seed"] == [
        "INT",
        {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True},
    ]
    assert "euler" in sampler["sampler_name"][0] and "normal" in sampler["scheduler"][0]
    assert info["CLIPTextEncode"]["display_name"] == "CLIP Text Encode (Prompt)"


def test_the_default_workflow_gives_a_png_and_the_same_seed_the_same_pixels(server):
    ids = []
    for seed in (11, 11, 12):
        status, answer = server.request("POST", "/prompt", {"prompt": default_workflow("tiny.safetensors", seed=seed)})
        assert status == 200, answer
        ids.append(answer["prompt_id"])
    results = []
    for prompt_id in ids:
        entry = _finished(server, prompt_id)
        assert entry["status"]["status_str"] == "success", entry["status"]
        results.append(_pixels(server, entry["outputs"]["9"]["images"][0]))
    assert results[0][0] == (64, 48)
    assert results[0] == results[1]
    assert results[0][1] != results[2][1]


@pytest.mark.parametrize(
    ("change", "error"),
    [({"sampler_name": "euler_magic"}, "value_not_in_list"), ({"steps": 0}, "value_smaller_than_min")],
    ids=["unknown-sampler", "zero-steps"],
)
def test_bad_sampler_inputs_are_validation_errors(server, change, error):
    prompt = default_workflow("tiny.safetensors")
    prompt["3"]["inputs"].update(change)
    status, answer = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 400
    assert answer["node_errors"]["3"]["errors"][0]["type"] == error


def test_an_interrupt_during_sampling_stops_the_job_in_the_same_worker(server):
    from tests.integration.test_server_process import children_of

    prompt = default_workflow("tiny.safetensors", steps=10000)
    status, answer = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 200, answer
    prompt_id = answer["prompt_id"]

    def sampling():
        running = server.request("GET", "/api/impasto/queue")[1]["running"]
        return running and running[0]["id"] == prompt_id and running[0]["node"] == "3"  # the KSampler

    wait_for(sampling, timeout=120)
    workers = children_of(server.process.pid)
    assert server.request("POST", "/interrupt", {"prompt_id": prompt_id})[0] == 200
    entry = _finished(server, prompt_id)
    last, details = entry["status"]["messages"][-1]
    assert last == "execution_interrupted" and details["node_id"] == "3"
    assert children_of(server.process.pid) == workers  # stopped cooperatively at a step, not killed
    after = server.request("POST", "/prompt", {"prompt": default_workflow("tiny.safetensors", seed=1)})[1]
    assert _finished(server, after["prompt_id"])["status"]["status_str"] == "success"
