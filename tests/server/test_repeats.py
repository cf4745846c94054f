"""Server-side repeats (http-api.md §7.10): a workflow that re-queues itself, entirely on the server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from impasto.queue import SqliteJobStore
from impasto.server.app import create_app
from tests.support.inprocess import InProcessNodeHost, ThreadExecutor

SEEDED = {
    "1": {"class_type": "PrimitiveInt", "inputs": {"value": 10}},
    "2": {"class_type": "ImpastoIntMath", "inputs": {"a": ["1", 0], "b": 0, "op": "add"}},
    "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
}
FAILING = {
    "1": {"class_type": "Fail", "inputs": {"value": 1}},
    "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
}


def target(mode: str) -> dict:
    return {"mode": mode, "targets": [{"node_id": "2", "input": "b"}]}


async def start(client, **body) -> dict:
    response = await client.post("/api/impasto/repeats", json={"prompt": SEEDED, "client_id": "c1", **body})
    assert response.status == 201, await response.text()
    return await response.json()


async def repeat_until(client, repeat_id: str, predicate, timeout: float = 20.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await (await client.get(f"/api/impasto/repeats/{repeat_id}")).json()
        if predicate(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.02)


async def history_values(client) -> list[int]:
    history = await (await client.get("/history")).json()
    entries = sorted(history.values(), key=lambda e: e["prompt"][0])
    return [entry["prompt"][2]["2"]["inputs"]["b"] for entry in entries]


async def test_a_repeat_runs_max_runs_times_moving_its_seed_on(client):
    created = await start(client, seed=target("increment"), max_runs=3)
    assert created["state"] == "active" and created["runs"] == 0 and created["node_errors"] == {}
    assert str(uuid.UUID(created["current_job"])) == created["current_job"]
    done = await repeat_until(client, created["repeat_id"], lambda r: r["state"] == "finished")
    assert done["runs"] == 3 and done["current_job"] is None and done["stop_reason"] is None
    assert await history_values(client) == [0, 1, 2]
    listed = await (await client.get("/api/impasto/repeats")).json()
    assert [r["repeat_id"] for r in listed["repeats"]] == [created["repeat_id"]]


async def test_a_fixed_seed_goes_idle_until_the_prompt_changes(client):
    created = await start(client, seed=target("fixed"))
    idle = await repeat_until(client, created["repeat_id"], lambda r: r["state"] == "idle")
    assert idle["runs"] == 1 and idle["current_job"] is None
    same = await client.patch(f"/api/impasto/repeats/{created['repeat_id']}", json={"prompt": SEEDED})
    assert (await same.json())["state"] == "idle"  # the same prompt again: nothing to run
    changed = {**SEEDED, "1": {"class_type": "PrimitiveInt", "inputs": {"value": 20}}}
    patched = await client.patch(f"/api/impasto/repeats/{created['repeat_id']}", json={"prompt": changed})
    assert (await patched.json())["state"] == "active"
    again = await repeat_until(client, created["repeat_id"], lambda r: r["state"] == "idle" and r["runs"] == 2)
    assert again["last_job"] != idle["last_job"]
    assert len(await history_values(client)) == 2


async def test_a_failed_run_stops_the_repeat_unless_told_otherwise(client):
    created = await start(client, prompt=FAILING)
    stopped = await repeat_until(client, created["repeat_id"], lambda r: r["state"] == "stopped")
    assert (stopped["stop_reason"], stopped["runs"]) == ("job_failed", 1)
    going = await start(client, prompt=FAILING, stop_on_error=False, max_runs=2, seed={"mode": "fixed"})
    finished = await repeat_until(client, going["repeat_id"], lambda r: r["state"] == "finished")
    assert finished["runs"] == 2


async def test_cancelling_its_job_stops_a_repeat(client, executor):
    executor.gate.clear()
    created = await start(client, seed=target("increment"))
    first = created["current_job"]
    for _ in range(500):  # handed to the worker, which holds it at the gate
        if executor.submitted:
            break
        await asyncio.sleep(0.01)
    assert executor.submitted == [first]
    cancelled = await client.post(f"/api/jobs/{first}/cancel")
    assert (await cancelled.json()) == {"cancelled": True}
    executor.gate.set()
    stopped = await repeat_until(client, created["repeat_id"], lambda r: r["state"] == "stopped")
    assert (stopped["stop_reason"], stopped["last_job"], executor.submitted) == ("job_cancelled", first, [first])


async def test_delete_stops_a_repeat_and_can_cancel_its_current_job(client, executor):
    executor.gate.clear()
    created = await start(client, seed=target("increment"))
    await client.post("/api/impasto/queue/pause")
    kept = await start(client, seed=target("increment"))  # pending behind the first
    deleted = await client.delete(f"/api/impasto/repeats/{kept['repeat_id']}?cancel_current=true")
    body = await deleted.json()
    assert (body["state"], body["stop_reason"]) == ("stopped", "user")
    job = await (await client.get(f"/api/impasto/jobs/{kept['current_job']}")).json()
    assert (job["status"], job["stop_reason"]) == ("cancelled", "removed")
    again = await client.delete(f"/api/impasto/repeats/{kept['repeat_id']}")
    assert (await again.json())["stop_reason"] == "user"  # stopping twice changes nothing
    refused = await client.patch(f"/api/impasto/repeats/{kept['repeat_id']}", json={"max_runs": 3})
    assert refused.status == 409 and (await refused.json())["error"]["type"] == "repeat_not_active"
    await client.post("/api/impasto/queue/resume")
    executor.gate.set()
    await client.delete(f"/api/impasto/repeats/{created['repeat_id']}")


async def test_clearing_the_queue_stops_every_live_repeat(client, executor):
    executor.gate.clear()
    await client.post("/api/impasto/queue/pause")
    first = await start(client, seed=target("increment"))
    second = await start(client, seed=target("increment"))
    cleared = await (await client.post("/api/impasto/queue/clear", json={})).json()
    assert cleared["repeats_stopped"] == 2 and cleared["removed"] == 2
    for created in (first, second):
        body = await (await client.get(f"/api/impasto/repeats/{created['repeat_id']}")).json()
        assert (body["state"], body["stop_reason"]) == ("stopped", "queue_cleared")
    third = await start(client, seed=target("increment"))
    assert (await client.post("/queue", json={"clear": True})).status == 200
    body = await (await client.get(f"/api/impasto/repeats/{third['repeat_id']}")).json()
    assert body["stop_reason"] == "queue_cleared"
    await client.post("/api/impasto/queue/resume")
    executor.gate.set()


async def test_the_queue_view_names_the_repeat_of_a_job(client, executor):
    executor.gate.clear()
    created = await start(client, seed=target("increment"))
    queue = await (await client.get("/api/impasto/queue")).json()
    assert [job["repeat_id"] for job in queue["running"] + queue["pending"]] == [created["repeat_id"]]
    executor.gate.set()
    await client.delete(f"/api/impasto/repeats/{created['repeat_id']}")


SWEEP = {"targets": [{"node_id": "2", "input": "b", "values": [1]}]}  # a repeat has no item count


async def test_bad_repeat_requests_get_typed_errors(client):
    cases = [
        ({}, 400, "invalid_request_body"),
        ({"prompt": SEEDED, "max_runs": 0}, 400, "invalid_request_body"),
        ({"prompt": SEEDED, "stop_on_error": "yes"}, 400, "invalid_request_body"),
        ({"prompt": SEEDED, "seed": SWEEP}, 400, "invalid_seed_spec"),
        ({"prompt": SEEDED, "seed": {"mode": "sideways"}}, 400, "invalid_seed_spec"),
    ]  # fmt: skip
    for body, status, kind in cases:
        response = await client.post("/api/impasto/repeats", json=body)
        assert response.status == status, body
        assert (await response.json())["error"]["type"] == kind, body
    invalid = await client.post("/api/impasto/repeats", json={"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
    assert invalid.status == 400 and (await invalid.json())["error"]["type"] == "missing_node_type"
    assert (await client.post("/api/impasto/repeats", data=b"{")).status == 400
    missing = await client.get(f"/api/impasto/repeats/{uuid.uuid4()}")
    assert missing.status == 404 and (await missing.json())["error"]["type"] == "repeat_not_found"
    assert (await client.get("/api/impasto/repeats/not-a-uuid")).status == 400
    assert (await client.delete(f"/api/impasto/repeats/{uuid.uuid4()}")).status == 404


async def test_a_repeat_goes_on_after_a_restart(
    aiohttp_client: Any, server_settings: Any, node_registry: Any, tmp_path: Path
) -> None:
    from impasto.nodes import settings as node_settings

    server_settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(server_settings.folders))
    path = tmp_path / "restart.db"
    store = SqliteJobStore(path)
    first = await aiohttp_client(
        create_app(server_settings, store, ThreadExecutor(node_registry), InProcessNodeHost(node_registry))
    )
    await first.post("/api/impasto/queue/pause")
    created = await start(first, seed=target("increment"), max_runs=2)
    await first.close()
    store.close()
    store = SqliteJobStore(path)
    second = await aiohttp_client(
        create_app(server_settings, store, ThreadExecutor(node_registry), InProcessNodeHost(node_registry))
    )
    try:
        await second.post("/api/impasto/queue/resume")
        done = await repeat_until(second, created["repeat_id"], lambda r: r["state"] == "finished")
        assert done["runs"] == 2 and await history_values(second) == [0, 1]
    finally:
        await second.close()
        store.close()
