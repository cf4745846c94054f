"""Server-side batches (http-api.md §7.9): N jobs from one request, with the frontend's seed rules."""

from __future__ import annotations

import uuid

SEEDED = {
    "1": {"class_type": "PrimitiveInt", "inputs": {"value": 10}},
    "2": {"class_type": "ImpastoIntMath", "inputs": {"a": ["1", 0], "b": 0, "op": "add"}},
    "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
}


def targets(mode: str, **extra) -> dict:
    return {"mode": mode, "targets": [{"node_id": "2", "input": "b"}], **extra}


async def batch(client, **body):
    response = await client.post("/api/impasto/batches", json={"prompt": SEEDED, **body})
    return response.status, await response.json()


async def test_a_batch_queues_count_jobs_with_incrementing_values(client, executor, connect):
    executor.gate.clear()
    status, body = await batch(client, count=3, seed=targets("increment"))
    assert status == 200 and body["requested"] == 3 and body["enqueued"] == 3
    assert [j["values"] for j in body["jobs"]] == [{"2.b": 0}, {"2.b": 1}, {"2.b": 2}]
    numbers = [j["number"] for j in body["jobs"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    queue = await (await client.get("/queue")).json()
    queued = [i[2]["2"]["inputs"]["b"] for i in queue["queue_running"] + queue["queue_pending"]]
    assert queued == [0, 1, 2]
    info = await (await client.get(f"/api/impasto/batches/{body['batch_id']}")).json()
    assert info["jobs"] == [j["prompt_id"] for j in body["jobs"]] and info["requested"] == 3
    cancelled = await (await client.post(f"/api/impasto/batches/{body['batch_id']}/cancel")).json()
    assert cancelled["cancelled"] == 3
    executor.gate.set()


async def test_apply_before_sweeps_and_fixed(client, executor):
    executor.gate.clear()
    _, before = await batch(client, count=2, seed=targets("decrement", apply="before"))
    assert [j["values"] for j in before["jobs"]] == [{"2.b": -1}, {"2.b": -2}]
    sweep = {"targets": [{"node_id": "2", "input": "b", "values": [7, 8, 9]}]}
    _, swept = await batch(client, count=3, seed=sweep)
    assert [j["values"] for j in swept["jobs"]] == [{"2.b": 7}, {"2.b": 8}, {"2.b": 9}]
    _, fixed = await batch(client, count=2, seed=targets("fixed"))
    assert [j["values"] for j in fixed["jobs"]] == [{"2.b": 0}, {"2.b": 0}]
    executor.gate.set()


async def test_randomize_draws_within_the_declared_range(client, executor):
    executor.gate.clear()
    _, body = await batch(client, count=5, seed=targets("randomize"))
    values = [j["values"]["2.b"] for j in body["jobs"]]
    assert values[0] == 0 and all(isinstance(v, int) for v in values)
    executor.gate.set()


async def test_bad_batches_are_refused_with_a_reason(client):
    cases: list[tuple[dict, str]] = [
        ({"count": 0}, "invalid_batch"),
        ({"count": 1001}, "invalid_batch"),
        ({"count": 2, "seed": {"mode": "sideways"}}, "invalid_seed_spec"),
        ({"count": 2, "seed": {"targets": [{"node_id": "9", "input": "x"}]}}, "invalid_seed_spec"),
        ({"count": 2, "seed": {"targets": [{"node_id": "2", "input": "b", "values": [1]}]}}, "invalid_seed_spec"),
        (
            {"count": 2, "seed": {"targets": [{"node_id": "2", "input": "op", "values": ["add", "nope"]}]}},
            "invalid_seed_spec",
        ),
    ]
    for body, type_ in cases:
        status, payload = await batch(client, **body)
        assert status == 400, body
        assert payload["error"]["type"] == type_, body
    response = await client.post("/api/impasto/batches", json={"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
    assert response.status == 400 and (await response.json())["error"]["type"] == "missing_node_type"
    missing = await client.get(f"/api/impasto/batches/{uuid.uuid4()}")
    assert missing.status == 404 and (await missing.json())["error"]["type"] == "batch_not_found"


async def test_each_item_carries_its_own_values_in_the_ui_workflow(client, executor):
    executor.gate.clear()
    workflow = {"nodes": [{"id": 2, "widgets_values": [0, "add"], "widgets_values_named": {"b": 0, "op": "add"}}]}
    body = {"count": 3, "seed": targets("increment"), "extra_data": {"extra_pnginfo": {"workflow": workflow}}}
    status, made = await batch(client, **body)
    assert status == 200
    queue = await (await client.get("/queue")).json()
    items = {item[1]: item[3] for item in queue["queue_running"] + queue["queue_pending"]}
    shown = [items[job["prompt_id"]]["extra_pnginfo"]["workflow"]["nodes"][0] for job in made["jobs"]]
    assert [node["widgets_values_named"]["b"] for node in shown] == [0, 1, 2]
    assert all(node["widgets_values"] == [0, "add"] for node in shown)
    executor.gate.set()
