"""The compatibility modules in a real server: a pack in `custom_nodes/` driven over HTTP and WebSocket only."""

from __future__ import annotations

import asyncio
import json
import struct
import textwrap
from pathlib import Path

import pytest

from tests.compat.client import Client, run_all
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow

PACK = """
import os

import comfy.model_management
import comfy.utils
import folder_paths
from server import PromptServer


class CountTo:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 4})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, steps):
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            bar.update(1)
        return (steps,)


class StopMyself:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        comfy.model_management.interrupt_current_processing()
        comfy.model_management.throw_exception_if_processing_interrupted()
        return (value,)


class Folders:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt": (folder_paths.get_filename_list("checkpoints"),), "value": ("INT",)}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, ckpt, value):
        full = folder_paths.get_full_path("checkpoints", ckpt)
        return {"ui": {"text": [folder_paths.get_output_directory(), os.path.basename(full), str(value),
                                str(comfy.model_management.get_torch_device())]}}


class Announce:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value, unique_id):
        server = PromptServer.instance
        server.send_sync("compat.to_me", {"value": value, "node": server.last_node_id,
                                         "prompt": server.last_prompt_id}, server.client_id)
        server.send_sync("compat.to_all", {"value": value})
        server.send_progress_text("halfway", unique_id)
        return (value,)


NODE_CLASS_MAPPINGS = {"CountTo": CountTo, "StopMyself": StopMyself, "CompatFolders": Folders, "Announce": Announce}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base: Path = tmp_path_factory.mktemp("compat-modules")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "compat_modules.py").write_text(textwrap.dedent(PACK))
    (base / "models" / "checkpoints").mkdir(parents=True)
    (base / "models" / "checkpoints" / "tiny.safetensors").write_bytes(b"0")
    process = ServerProcess(base, "--cpu", "--output-directory", str(base / "elsewhere")).start()
    yield process
    process.stop()


def test_progress_bar_updates_reach_the_client(server):
    (outcome,) = run_all(
        server.url,
        [
            {
                "1": {"class_type": "CountTo", "inputs": {"steps": 4}},
                "2": {"class_type": "CompatFolders", "inputs": {"ckpt": "tiny.safetensors", "value": ["1", 0]}},
            }
        ],
    )
    assert outcome.status_str() == "success", outcome.history
    progress = [p for p in outcome.of("progress") if p["node"] == "1"]
    assert progress and progress[-1]["value"] == 4 and progress[-1]["max"] == 4
    text = outcome.outputs()["2"]["text"]
    assert text == [str(server.base / "elsewhere"), "tiny.safetensors", "4", "cpu"]


def test_folder_lists_are_offered_as_combo_options(server):
    status, info = server.request("GET", "/object_info/CompatFolders")
    assert status == 200
    assert info["CompatFolders"]["input"]["required"]["ckpt"] == [["tiny.safetensors"]]
    assert info["CompatFolders"]["python_module"] == "custom_nodes.compat_modules"


def test_node_code_interrupting_its_job_ends_it_as_interrupted(server):
    prompt = {
        "1": {"class_type": "CountTo", "inputs": {"steps": 2}},
        "2": {"class_type": "StopMyself", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "CompatFolders", "inputs": {"ckpt": "tiny.safetensors", "value": ["2", 0]}},
    }

    async def go():
        async with Client(server.url) as client:
            stopped = await client.run(prompt)
            again = await client.run(
                {
                    "9": {"class_type": "CountTo", "inputs": {"steps": 1}},
                    **{"3": {"class_type": "CompatFolders", "inputs": {"ckpt": "tiny.safetensors", "value": ["9", 0]}}},
                }
            )
            return stopped, again

    stopped, again = asyncio.run(go())
    assert stopped.status_str() == "error"
    interrupted = stopped.of("execution_interrupted")
    assert interrupted and interrupted[0]["node_id"] == "2"
    _, job = server.request("GET", f"/api/jobs/{stopped.prompt_id}")
    assert job["status"] == "cancelled"
    assert again.status_str() == "success"  # the interrupt belonged to that job only


def test_send_sync_from_a_node_reaches_its_client_and_a_broadcast_reaches_every_socket(server):
    prompt = {
        "1": {"class_type": "CountTo", "inputs": {"steps": 1}},
        "2": {"class_type": "Announce", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "CompatFolders", "inputs": {"ckpt": "tiny.safetensors", "value": ["2", 0]}},
    }

    async def go():
        async with Client(server.url) as submitter, Client(server.url) as other:
            outcome = await submitter.run(prompt)
            assert other._ws is not None
            while True:  # the other socket: its first status, then the broadcast (and nothing addressed to another)
                message = await asyncio.wait_for(other._ws.receive(), 30)
                event = json.loads(message.data)
                if event["type"] == "compat.to_all":
                    break
                assert event["type"] == "status", event
            return outcome, submitter

    outcome, submitter = asyncio.run(go())
    assert outcome.status_str() == "success", outcome.history
    custom = {e["type"]: e["data"] for e in submitter.extra if e["type"].startswith("compat.")}
    assert custom == {
        "compat.to_me": {"value": 1, "node": "2", "prompt": outcome.prompt_id},
        "compat.to_all": {"value": 1},
    }
    texts = [frame for frame in outcome.binary if struct.unpack(">I", frame[:4])[0] == 3]
    assert len(texts) == 1
    (length,) = struct.unpack(">I", texts[0][4:8])
    assert texts[0][8 : 8 + length] == b"2" and texts[0][8 + length :] == b"halfway"
