"""/queue, /interrupt, /history, /free and the Jobs API over a real socket."""

from __future__ import annotations

import uuid

from tests.server.conftest import SAVE_PROMPT

BUSY = {
    "1": {"class_type": "Busy", "inputs": {"steps": 500, "seconds": 0.01}},
    "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
}


def tiny(value: int) -> dict:
    return {"1": {"class_type": "Output", "inputs": {"value": value}}}


async def post(client, prompt, **extra):
    response = await client.post("/prompt", json={"prompt": prompt, **extra})
    assert response.status == 200, await response.text()
    return (await response.json())["prompt_id"]


async def test_queue_lists_running_and_pending_items_in_run_order(client, executor):
    executor.gate.clear()
    running = await post(client, tiny(1))
    later = await post(client, tiny(2))
    first = await post(client, tiny(3), front=True)
    body = await (await client.get("/api/queue")).json()
    assert [item[1] for item in body["queue_running"]] == [running]
    assert [item[1] for item in body["queue_pending"]] == [first, later]
    item = body["queue_pending"][1]
    assert len(item) == 5 and item[2]["1"]["class_type"] == "Output" and item[4] == ["1"]
    assert item[3]["create_time"] > 0
    executor.gate.set()


async def test_an_unchanged_queue_gets_the_same_answer_and_a_change_shows_at_once(client, executor):
    executor.gate.clear()
    await post(client, tiny(1))
    first = await (await client.get("/queue")).text()
    assert await (await client.get("/api/queue")).text() == first
    added = await post(client, tiny(2))
    body = await (await client.get("/queue")).json()
    assert [item[1] for item in body["queue_pending"]] == [added]
    executor.gate.set()


async def test_queue_delete_and_clear_remove_pending_jobs_only(client, executor, connect):
    executor.gate.clear()
    running = await post(client, tiny(1))
    pending = [await post(client, tiny(i)) for i in range(2, 5)]
    assert (await client.post("/queue", json={"delete": [pending[0], "unknown", running]})).status == 200
    body = await (await client.get("/queue")).json()
    assert [i[1] for i in body["queue_pending"]] == pending[1:]
    assert (await client.post("/queue", json={"clear": True})).status == 200
    body = await (await client.get("/queue")).json()
    assert body["queue_pending"] == [] and [i[1] for i in body["queue_running"]] == [running]
    executor.gate.set()
    jobs = await (await client.get("/api/jobs")).json()
    assert pending[0] not in [j["id"] for j in jobs["jobs"]]


async def test_a_targeted_interrupt_stops_only_that_job(client, connect):
    socket = await connect("c1")
    busy = await post(client, BUSY, client_id="c1")
    after = await post(client, tiny(7), client_id="c1")
    await socket.until(lambda m: m["type"] == "progress" and m["data"]["prompt_id"] == busy)
    assert (await client.post("/interrupt", json={"prompt_id": after})).status == 200  # pending: nothing
    assert (await client.post("/interrupt", json={"prompt_id": busy})).status == 200
    messages = await socket.run_end(busy)
    types = [m["type"] for m in messages]
    assert "execution_interrupted" in types
    assert types.index("execution_interrupted") < max(i for i, t in enumerate(types) if t == "status")
    rest = await socket.run_end(after)
    assert "execution_success" in [m["type"] for m in rest]
    history = await (await client.get(f"/history/{busy}")).json()
    status = history[busy]["status"]
    assert status["status_str"] == "error" and status["completed"] is False
    assert [m[0] for m in status["messages"]] == ["execution_start", "execution_cached", "execution_interrupted"]
    job = await (await client.get(f"/api/jobs/{busy}")).json()
    assert job["status"] == "cancelled"


async def test_interrupt_with_a_bad_body_or_nothing_running_is_fine(client):
    assert (await client.post("/interrupt", data=b"{bad")).status == 200
    assert (await client.post("/interrupt")).status == 200


async def test_history_pages_and_deletes(client, connect):
    socket = await connect("c1")
    ids = []
    for i in range(4):
        ids.append(await post(client, tiny(i), client_id="c1"))
        await socket.run_end(ids[-1])
    everything = await (await client.get("/history")).json()
    assert list(everything) == ids
    assert list(await (await client.get("/history?max_items=2")).json()) == ids[2:]
    assert list(await (await client.get("/history?max_items=2&offset=0")).json()) == ids[:2]
    assert list(await (await client.get("/history?offset=3")).json()) == ids[3:]
    assert await (await client.get("/history?offset=9&max_items=1")).json() == {}
    assert (await client.get("/history?max_items=x")).status == 400
    entry = (await (await client.get(f"/history/{ids[0]}")).json())[ids[0]]
    assert entry["prompt"][1] == ids[0] and entry["prompt"][4] == ["1"]
    assert entry["status"]["status_str"] == "success"
    assert entry["outputs"]["1"] == {"text": ["0"]}
    assert entry["meta"]["1"]["real_node_id"] == "1"
    assert await (await client.get(f"/history/{uuid.uuid4()}")).json() == {}
    await client.post("/history", json={"delete": [ids[0]]})
    assert list(await (await client.get("/history")).json()) == ids[1:]
    await client.post("/history", json={"clear": True})
    assert await (await client.get("/history")).json() == {}


async def test_jobs_api_lists_with_the_fields_the_frontend_needs(client, connect, executor):
    socket = await connect("c1")
    done = await post(client, SAVE_PROMPT, client_id="c1")
    await socket.run_end(done)
    executor.gate.clear()
    running = await post(client, tiny(1))
    pending = await post(client, tiny(2))
    active = await (await client.get("/api/jobs?status=in_progress,pending&limit=200&offset=0")).json()
    assert [j["id"] for j in active["jobs"]] == [pending, running]
    assert active["pagination"] == {"offset": 0, "limit": 200, "total": 2, "has_more": False}
    for job in active["jobs"]:
        assert {"id", "status", "create_time", "priority", "outputs_count", "previewable_outputs_count"} <= set(job)
    finished = await (await client.get("/api/jobs?status=completed,failed,cancelled&limit=64")).json()
    job = finished["jobs"][0]
    assert job["status"] == "completed" and job["outputs_count"] == 1
    assert job["preview_output"]["filename"] == "ComfyUI_00001_.png"
    assert job["preview_output"]["nodeId"] == "2" and job["preview_output"]["mediaType"] == "images"
    assert job["execution_end_time"] >= job["execution_start_time"] >= job["create_time"]
    detail = await (await client.get(f"/api/jobs/{done}")).json()
    assert detail["execution_status"]["status_str"] == "success"
    assert detail["workflow"]["prompt"]["2"]["class_type"] == "SaveImage"
    assert (await client.get(f"/api/jobs/{uuid.uuid4()}")).status == 404
    assert (await client.get("/jobs")).status == 404  # the Jobs API has no bare path
    executor.gate.set()


async def test_jobs_api_rejects_bad_parameters(client):
    for query, message in [
        ("status=bogus", "Invalid status value(s): bogus."),
        ("sort_by=name", "sort_by must be"),
        ("sort_order=up", "sort_order must be"),
        ("limit=0", "limit must be a positive integer"),
        ("limit=x", "limit must be an integer"),
        ("offset=x", "offset must be an integer"),
    ]:
        response = await client.get(f"/api/jobs?{query}")
        assert response.status == 400, query
        assert (await response.json())["error"].startswith(message)


async def test_jobs_cancel_endpoints(client, executor):
    executor.gate.clear()
    running = await post(client, BUSY)
    pending = await post(client, tiny(2))
    assert await (await client.post(f"/api/jobs/{pending}/cancel")).json() == {"cancelled": True}
    assert await (await client.post(f"/api/jobs/{uuid.uuid4()}/cancel")).json() == {"cancelled": False}
    bad = await client.post("/api/jobs/cancel", json={"job_ids": ["nope", 3]})
    assert bad.status == 400
    assert await bad.json() == {"error": "job_ids contains invalid id(s)", "invalid_ids": ["nope", "3"]}
    assert (await client.post("/api/jobs/cancel", json={"job_ids": "x"})).status == 400
    assert (await client.post("/api/jobs/cancel", data=b"{")).status == 400
    assert await (await client.post("/api/jobs/cancel", json={"job_ids": [running]})).json() == {"cancelled": True}
    executor.gate.set()


async def test_free_reaches_the_workers(client, executor):
    assert (await client.post("/free", json={"unload_models": True, "free_memory": True})).status == 200
    assert executor.freed == [(True, True)]


async def test_pause_holds_pending_jobs_and_resume_runs_them(client, connect):
    socket = await connect("c1")
    paused = await (await client.post("/api/impasto/queue/pause")).json()
    assert paused["paused"] is True and paused["was_paused"] is False
    again = await (await client.post("/api/impasto/queue/pause")).json()
    assert again["was_paused"] is True and again["seq"] == paused["seq"]
    held = await post(client, tiny(1), client_id="c1")
    status = await socket.until(
        lambda m: m["type"] == "status" and m["data"]["status"]["exec_info"]["impasto"]["pending"] == 1
    )
    assert status[-1]["data"]["status"]["exec_info"]["impasto"]["paused"] is True
    queue = await (await client.get("/queue")).json()
    assert [i[1] for i in queue["queue_pending"]] == [held] and queue["queue_running"] == []
    resumed = await (await client.post("/api/impasto/queue/resume")).json()
    assert resumed == {"paused": False, "was_paused": True, "seq": resumed["seq"]}
    assert resumed["seq"] > paused["seq"]
    await socket.run_end(held)


async def test_health_and_readiness(client):
    health = await (await client.get("/api/impasto/health")).json()
    assert health["status"] == "ok" and health["uptime_ms"] >= 0
    ready = await client.get("/api/impasto/ready")
    body = await ready.json()
    assert set(body["checks"]) == {"store", "nodes", "workers", "queue"}
    assert body["checks"]["store"] == "ok"


async def test_reorder_pending_jobs(client, executor, connect):
    executor.gate.clear()
    running = await post(client, tiny(0))
    a, b, c = [await post(client, tiny(i)) for i in (1, 2, 3)]
    moved = await client.post(f"/api/impasto/jobs/{c}/move", json={"to": "front"})
    assert moved.status == 200
    body = await moved.json()
    assert body["id"] == c and body["position"] == 1
    queue = await (await client.get("/queue")).json()
    assert [i[1] for i in queue["queue_pending"]] == [c, a, b]
    await client.post(f"/api/impasto/jobs/{c}/move", json={"before": b})
    queue = await (await client.get("/queue")).json()
    assert [i[1] for i in queue["queue_pending"]] == [a, c, b]
    jobs = await (await client.get("/api/jobs?status=pending&sort_by=created_at")).json()
    priorities = {j["id"]: j["priority"] for j in jobs["jobs"]}
    assert priorities[a] < priorities[c] < priorities[b]
    for payload, status, type_ in [
        ({"to": "middle"}, 400, "invalid_move"),
        ({"to": "front", "before": a}, 400, "invalid_move"),
        ({"before": c}, 400, "invalid_move"),
        ({"before": str(uuid.uuid4())}, 404, "anchor_not_found"),
        ({"before": running}, 409, "anchor_not_pending"),
    ]:
        response = await client.post(f"/api/impasto/jobs/{c}/move", json=payload)
        assert response.status == status, payload
        assert (await response.json())["error"]["type"] == type_
    response = await client.post(f"/api/impasto/jobs/{running}/move", json={"to": "back"})
    assert response.status == 409 and (await response.json())["error"]["type"] == "job_not_pending"
    response = await client.post(f"/api/impasto/jobs/{uuid.uuid4()}/move", json={"to": "back"})
    assert response.status == 404 and (await response.json())["error"]["type"] == "job_not_found"
    details = await (await client.get(f"/api/impasto/jobs/{c}")).json()
    assert details["status"] == "pending" and details["position"] == 2
    executor.gate.set()


async def test_atomic_clear_and_the_light_queue_status(client, executor, connect):
    socket = await connect("c1")
    executor.gate.clear()
    running = await post(client, BUSY, client_id="c1")
    pending = [await post(client, tiny(i)) for i in range(3)]
    status = await (await client.get("/api/impasto/queue?limit=2")).json()
    assert [j["id"] for j in status["running"]] == [running]
    assert [j["id"] for j in status["pending"]] == pending[:2] and status["pending_total"] == 3
    assert [j["position"] for j in status["pending"]] == [1, 2]
    assert status["counts"]["pending"] == 3 and status["counts"]["in_progress"] == 1
    assert status["workers"][0]["state"] == "busy"
    bad = await client.post("/api/impasto/queue/clear", json={"include_running": "yes"})
    assert bad.status == 400
    cleared = await (await client.post("/api/impasto/queue/clear", json={"include_running": True})).json()
    assert cleared["removed"] == 3 and cleared["interrupted"] == 1
    executor.gate.set()
    messages = await socket.run_end(running)
    assert "execution_interrupted" in [m["type"] for m in messages]
    assert (await (await client.get("/queue")).json())["queue_pending"] == []


async def test_extra_data_is_stored_as_sent_whichever_reader_read_the_body(client, executor):
    executor.gate.clear()
    await post(client, tiny(0))  # runs, held by the gate: the jobs below wait in the queue
    sent = {
        "plain": {"workflow": {"nodes": [{"pos": [10.5, 1e-07], "title": "é ✓", "link": None}], "n": 2**62}},
        "long integer": {"seed": 2**70, "small": 0.1},  # 22 digits: read and written by the standard library
    }
    ids = {name: await post(client, tiny(1), extra_data=extra) for name, extra in sent.items()}
    raw = b'{"prompt": {"1": {"class_type": "Output", "inputs": {"value": 2}}}, "extra_data": {"x": NaN}}'
    response = await client.post("/prompt", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 200
    ids["nan"] = (await response.json())["prompt_id"]
    pending = {item[1]: item[3] for item in (await (await client.get("/queue")).json())["queue_pending"]}
    for name in sent:
        stored = pending[ids[name]]
        assert {k: v for k, v in stored.items() if k != "create_time"} == sent[name]
    nan = pending[ids["nan"]]["x"]
    assert nan != nan  # the NaN token written back by the standard library, and read back as NaN
    executor.gate.set()
