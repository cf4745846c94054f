"""`Idempotency-Key` on POST /prompt, batches and repeats (http-api.md §7.12)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

from impasto.queue import SqliteJobStore
from impasto.server.app import create_app
from tests.support.inprocess import InProcessNodeHost, ThreadExecutor
from tests.support.stores import CallsInThreads

PROMPT = {"1": {"class_type": "Output", "inputs": {"value": 1}}}
OTHER = {"1": {"class_type": "Output", "inputs": {"value": 2}}}


async def post(client, path: str, body: dict, key: str | None = "key-1"):
    headers = {} if key is None else {"Idempotency-Key": key}
    response = await client.post(path, json=body, headers=headers)
    return response, await response.json()


async def test_a_repeated_prompt_request_is_answered_again_without_queueing(client):
    first, body = await post(client, "/prompt", {"prompt": PROMPT})
    assert first.status == 200 and "Idempotency-Replayed" not in first.headers
    again, replayed = await post(client, "/api/prompt", {"prompt": PROMPT})
    assert again.status == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert replayed == body
    plain, other = await post(client, "/prompt", {"prompt": PROMPT}, key=None)  # no key: ComfyUI's behaviour
    assert plain.status == 200 and other["prompt_id"] != body["prompt_id"]
    for _ in range(100):
        jobs = await (await client.get("/api/jobs?status=completed")).json()
        if len(jobs["jobs"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert sorted(j["id"] for j in jobs["jobs"]) == sorted([body["prompt_id"], other["prompt_id"]])


async def test_a_key_with_another_body_or_a_bad_key_is_refused(client):
    await post(client, "/prompt", {"prompt": PROMPT})
    reused, body = await post(client, "/prompt", {"prompt": OTHER})
    assert reused.status == 422 and body["error"]["type"] == "idempotency_key_reused"
    for key in ["x" * 256, "", "tab\there", "é"]:
        response = await client.post("/prompt", json={"prompt": PROMPT}, headers={"Idempotency-Key": key})
        assert response.status == 400, key
        assert (await response.json())["error"]["type"] == "idempotency_key_invalid"


async def test_a_failed_request_stores_nothing_and_can_be_retried(client):
    bad, body = await post(client, "/prompt", {"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
    assert bad.status == 400 and body["error"]["type"] == "missing_node_type"
    fixed, answer = await post(client, "/prompt", {"prompt": PROMPT})
    assert fixed.status == 200 and "prompt_id" in answer


async def test_batches_and_repeats_are_idempotent_too(client, executor):
    executor.gate.clear()
    batch = {"prompt": PROMPT, "count": 2, "seed": {"mode": "fixed"}}
    first, made = await post(client, "/api/impasto/batches", batch, key="batch")
    again, replayed = await post(client, "/api/impasto/batches", batch, key="batch")
    assert (first.status, again.status, again.headers["Idempotency-Replayed"]) == (200, 200, "true")
    assert replayed == made
    repeat = {"prompt": PROMPT, "seed": {"mode": "fixed"}}
    first, created = await post(client, "/api/impasto/repeats", repeat, key="repeat")
    again, replayed = await post(client, "/api/impasto/repeats", repeat, key="repeat")
    assert (first.status, again.status) == (201, 201) and replayed == created
    listed = await (await client.get("/api/impasto/repeats")).json()
    assert [r["repeat_id"] for r in listed["repeats"]] == [created["repeat_id"]]
    queue = await (await client.get("/queue")).json()
    assert len(queue["queue_running"]) + len(queue["queue_pending"]) == 3  # two batch items, one repeat run
    executor.gate.set()


class SlowAddStore(CallsInThreads, SqliteJobStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.adding = threading.Event()
        self.release = threading.Event()

    def add(self, job: Any, **kwargs: Any) -> Any:
        self.adding.set()
        self.release.wait(10)
        return super().add(job, **kwargs)


async def app_client(aiohttp_client: Any, settings: Any, registry: Any, store: Any) -> Any:
    from impasto.nodes import settings as node_settings

    settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(settings.folders))
    return await aiohttp_client(create_app(settings, store, ThreadExecutor(registry), InProcessNodeHost(registry)))


async def test_a_key_whose_first_request_is_in_progress_is_refused(
    aiohttp_client: Any, server_settings: Any, node_registry: Any, tmp_path: Path
) -> None:
    store = SlowAddStore(tmp_path / "q.db")
    client = await app_client(aiohttp_client, server_settings, node_registry, store)
    try:
        first = asyncio.create_task(post(client, "/prompt", {"prompt": PROMPT}))
        assert await asyncio.to_thread(store.adding.wait, 10)
        busy, body = await post(client, "/prompt", {"prompt": PROMPT})
        assert busy.status == 409 and body["error"]["type"] == "idempotency_key_in_progress"
        store.release.set()
        response, _ = await first
        assert response.status == 200
    finally:
        store.release.set()
        await client.close()
        store.close()


async def test_answers_outlive_a_restart_and_expire(
    aiohttp_client: Any, server_settings: Any, node_registry: Any, tmp_path: Path
) -> None:
    path = tmp_path / "q.db"
    store = SqliteJobStore(path)
    client = await app_client(aiohttp_client, server_settings, node_registry, store)
    _, body = await post(client, "/prompt", {"prompt": PROMPT})
    await client.close()
    store.close()
    store = SqliteJobStore(path)
    client = await app_client(aiohttp_client, server_settings, node_registry, store)
    again, replayed = await post(client, "/prompt", {"prompt": PROMPT})
    assert again.headers["Idempotency-Replayed"] == "true" and replayed == body
    await client.close()
    brief = dataclasses.replace(server_settings, idempotency_ttl_hours=0.0)
    client = await app_client(aiohttp_client, brief, node_registry, store)
    try:
        _, kept = await post(client, "/prompt", {"prompt": PROMPT}, key="brief")
        await asyncio.sleep(0.01)
        fresh, later = await post(client, "/prompt", {"prompt": PROMPT}, key="brief")
        assert "Idempotency-Replayed" not in fresh.headers and later["prompt_id"] != kept["prompt_id"]
    finally:
        await client.close()
        store.close()
