"""POST/GET /prompt over a real socket: queueing, numbers, ids, validation errors (http-api.md §3.1-3.2)."""

from __future__ import annotations

import uuid

import pytest

from tests.server.conftest import SAVE_PROMPT


async def test_a_valid_prompt_is_queued_and_runs(client, connect):
    socket = await connect("c1")
    response = await client.post("/prompt", json={"prompt": SAVE_PROMPT, "client_id": "c1"})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"prompt_id", "number", "node_errors"}
    assert str(uuid.UUID(body["prompt_id"])) == body["prompt_id"]
    assert body["node_errors"] == {}
    messages = await socket.run_end(body["prompt_id"])
    assert [m["type"] for m in messages] == [
        "status",
        "status",
        "execution_start",
        "execution_cached",
        "progress_state",
        "executing",
        "progress_state",
        "progress_state",
        "executing",
        "executed",
        "progress_state",
        "execution_success",
        "status",
        "executing",
    ]
    assert [m["data"]["status"]["exec_info"]["queue_remaining"] for m in messages if m["type"] == "status"] == [1, 1, 0]
    executed = next(m for m in messages if m["type"] == "executed")["data"]
    assert executed["output"]["images"][0]["filename"] == "ComfyUI_00001_.png"


async def test_identical_rerun_sends_the_cached_sequence(client, connect):
    socket = await connect("c1")
    first = await (await client.post("/prompt", json={"prompt": SAVE_PROMPT, "client_id": "c1"})).json()
    await socket.run_end(first["prompt_id"])
    again = await (await client.post("/prompt", json={"prompt": SAVE_PROMPT, "client_id": "c1"})).json()
    messages = await socket.run_end(again["prompt_id"])
    assert [m["type"] for m in messages] == [
        "status",
        "status",
        "execution_start",
        "execution_cached",
        "executed",
        "progress_state",
        "execution_success",
        "status",
        "executing",
    ]
    assert messages[3]["data"]["nodes"] == ["1", "2"]


async def test_the_api_prefix_serves_the_same_route(client):
    response = await client.post("/api/prompt", json={"prompt": SAVE_PROMPT})
    assert response.status == 200
    info = await (await client.get("/api/prompt")).json()
    assert "queue_remaining" in info["exec_info"]


async def test_numbers_count_up_and_front_goes_negative(client):
    first = await (await client.post("/prompt", json={"prompt": SAVE_PROMPT})).json()
    second = await (await client.post("/prompt", json={"prompt": SAVE_PROMPT, "front": True})).json()
    explicit = await (await client.post("/prompt", json={"prompt": SAVE_PROMPT, "number": 2.5})).json()
    assert second["number"] == -(first["number"] + 1)
    assert explicit["number"] == 2.5


async def test_a_client_prompt_id_is_used_and_a_duplicate_pending_one_is_refused(client, executor):
    executor.gate.clear()  # hold the worker so the first job stays running
    prompt_id = str(uuid.uuid4())
    first = await client.post("/prompt", json={"prompt": SAVE_PROMPT, "prompt_id": prompt_id})
    assert (await first.json())["prompt_id"] == prompt_id
    again = await client.post("/prompt", json={"prompt": SAVE_PROMPT, "prompt_id": prompt_id})
    assert again.status == 409
    body = await again.json()
    assert body["error"]["type"] == "duplicate_prompt_id"
    assert body["error"]["extra_info"] == {"prompt_id": prompt_id}
    executor.gate.set()


@pytest.mark.parametrize(
    ("body", "status", "type_"),
    [
        ({}, 400, "no_prompt"),
        ({"prompt": SAVE_PROMPT, "prompt_id": "not-a-uuid"}, 400, "invalid_prompt_id"),
        ({"prompt": SAVE_PROMPT, "prompt_id": str(uuid.uuid4()).upper()}, 400, "invalid_prompt_id"),
        ({"prompt": {"1": {"inputs": {}}}}, 400, "invalid_prompt"),
        ({"prompt": {"1": {"class_type": "Nope", "inputs": {}}}}, 400, "missing_node_type"),
        ({"prompt": {"1": {"class_type": "EmptyImage", "inputs": {}}}}, 400, "prompt_no_outputs"),
        ({"prompt": SAVE_PROMPT, "node_failure_policy": "continue_independent"}, 400, "invalid_node_failure_policy"),
        ({"prompt": SAVE_PROMPT, "partial_execution_targets": []}, 400, "prompt_no_outputs"),
    ],
)
async def test_rejected_prompts_get_the_error_envelope(client, body, status, type_):
    response = await client.post("/prompt", json=body)
    assert response.status == status
    payload = await response.json()
    assert payload["error"]["type"] == type_
    assert set(payload["error"]) == {"type", "message", "details", "extra_info"}
    assert "node_errors" in payload


async def test_failed_outputs_carry_node_errors(client):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    response = await client.post("/prompt", json={"prompt": prompt})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    error = body["node_errors"]["1"]["errors"][0]
    assert error["type"] == "value_smaller_than_min"
    assert body["node_errors"]["1"]["dependent_outputs"] == ["2"]


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ("{not json", {"Content-Type": "application/json"}),
        ("[1, 2]", {"Content-Type": "application/json"}),
        ("\xff\xfe", {"Content-Type": "text/plain"}),
    ],
)
async def test_malformed_bodies_are_a_4xx_with_a_reason(client, data, headers):
    response = await client.post("/prompt", data=data.encode("latin-1"), headers=headers)
    assert response.status == 400
    body = await response.json()
    assert body["error"]["type"] == "invalid_request_body"


async def test_sensitive_extra_data_is_never_stored(client, connect, tmp_path):
    socket = await connect("c1")
    extra = {"auth_token_comfy_org": "secret-token", "api_key_comfy_org": "secret-key", "keep": 1}
    payload = {"prompt": SAVE_PROMPT, "extra_data": extra, "client_id": "c1"}
    body = await (await client.post("/prompt", json=payload)).json()
    await socket.run_end(body["prompt_id"])
    history = await (await client.get(f"/history/{body['prompt_id']}")).json()
    stored_extra = history[body["prompt_id"]]["prompt"][3]
    assert stored_extra["keep"] == 1
    assert "auth_token_comfy_org" not in stored_extra and "api_key_comfy_org" not in stored_extra
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("queue.db*"))
    assert b"secret-token" not in on_disk and b"secret-key" not in on_disk


async def test_a_cross_origin_page_cannot_post_to_a_loopback_server(client):
    response = await client.post(
        "/prompt", json={"prompt": SAVE_PROMPT}, headers={"Origin": "http://evil.example", "Host": "127.0.0.1:8188"}
    )
    assert response.status == 403
