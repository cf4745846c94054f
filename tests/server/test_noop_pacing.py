"""Pacing and folding of identical re-submissions (execution.md §8.5): Run (Instant) with a fixed seed."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from impasto.queue import JobState, SqliteJobStore
from impasto.server.app import create_app
from tests.support.inprocess import InProcessNodeHost, ThreadExecutor

PROMPT = {"1": {"class_type": "Output", "inputs": {"value": 1}}}
OTHER = {"1": {"class_type": "Output", "inputs": {"value": 2}}}
INTERVAL_MS = 3000
FROM_THE_PAGE = {"comfy_usage_source": "comfyui-frontend"}


@pytest.fixture
async def paced(aiohttp_client: Any, server_settings: Any, node_registry: Any, tmp_path: Path) -> Any:
    from impasto.nodes import settings as node_settings

    settings = dataclasses.replace(server_settings, noop_repeat_interval_ms=INTERVAL_MS)
    settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(settings.folders))
    store = SqliteJobStore(tmp_path / "q.db")
    client = await aiohttp_client(
        create_app(settings, store, ThreadExecutor(node_registry), InProcessNodeHost(node_registry))
    )
    yield client, store
    await client.close()
    store.close()


async def submit(client, prompt, client_id: str, extra: dict | None = None) -> str:
    body = {"prompt": prompt, "client_id": client_id, "extra_data": extra or {}}
    response = await client.post("/prompt", json=body)
    assert response.status == 200
    return (await response.json())["prompt_id"]


async def done(store, job_id: str) -> Any:
    for _ in range(400):
        job = store.get(job_id)
        if job is not None and job.ended_ms is not None:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"{job_id} did not finish")


async def test_an_identical_resubmission_from_the_page_waits_and_others_do_not(paced):
    client, store = paced
    first = await done(store, await submit(client, PROMPT, "page", FROM_THE_PAGE))
    ended = time.monotonic()
    repeat = await submit(client, PROMPT, "page", FROM_THE_PAGE)  # what Run (Instant) sends next
    script = await submit(client, PROMPT, "script")  # an API client: never paced
    changed = await submit(client, OTHER, "page", FROM_THE_PAGE)  # an edited parameter: not a repeat
    later = [await done(store, job_id) for job_id in (script, changed)]
    assert store.get(repeat).state is JobState.PENDING  # still waiting: it counts in the queue meanwhile
    paced_job = await done(store, repeat)
    assert time.monotonic() - ended >= INTERVAL_MS / 1000 - 0.05  # it waited in the queue
    assert paced_job.started_ms >= max(job.started_ms for job in later)  # the others went first
    assert first.state.value == paced_job.state.value == "completed"


async def listed(client) -> list[str]:
    response = await client.get("/api/jobs?status=completed&sort_order=asc")
    assert response.status == 200
    return [job["id"] for job in (await response.json())["jobs"]]


async def test_identical_all_cached_runs_of_a_client_fold_into_one_listed_entry(paced):
    client, store = paced
    series = [await done(store, await submit(client, PROMPT, "looping")) for _ in range(3)]
    other = await done(store, await submit(client, PROMPT, "someone-else"))  # another client: its own entry
    assert await listed(client) == [series[-1].id, other.id]  # the series shows as its newest run
    history = await (await client.get("/history")).json()
    assert [job.id for job in series] == [job_id for job_id in history if job_id in {j.id for j in series}]
    for job in series:  # every member keeps its full entry
        entry = (await (await client.get(f"/history/{job.id}")).json())[job.id]
        assert entry["status"]["status_str"] == "success"
        assert (await client.get(f"/api/jobs/{job.id}")).status == 200

    changed = await done(store, await submit(client, OTHER, "looping"))
    back = await done(store, await submit(client, PROMPT, "looping"))  # cached, but not a repeat of OTHER
    assert await listed(client) == [series[-1].id, other.id, changed.id, back.id]
