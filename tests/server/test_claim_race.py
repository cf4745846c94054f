"""A cancel that lands while a job's claim is still in flight (the claimed row was read before it)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

from impasto.queue import Job, JobState, SqliteJobStore
from impasto.server.app import create_app
from tests.support.inprocess import InProcessNodeHost
from tests.support.stores import CallsInThreads

BUSY = {
    "1": {"class_type": "Busy", "inputs": {"steps": 200, "seconds": 0.01}},
    "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
}


class SlowClaimStore(CallsInThreads, SqliteJobStore):
    """Commits a claim, then holds the thread that made it until released."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claimed = threading.Event()
        self.release = threading.Event()

    def claim_next(self, worker_id: str, now_ms: int, **kwargs: Any) -> Job | None:
        job = super().claim_next(worker_id, now_ms, **kwargs)
        if job is not None:
            self.claimed.set()
            self.release.wait(10)
        return job


async def test_a_cancel_during_the_claim_reaches_the_job_when_it_starts(
    aiohttp_client: Any, server_settings: Any, node_registry: Any, executor: Any, tmp_path: Path
) -> None:
    from impasto.nodes import settings as node_settings

    server_settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(server_settings.folders))
    store = SlowClaimStore(tmp_path / "queue.db")
    client = await aiohttp_client(create_app(server_settings, store, executor, InProcessNodeHost(node_registry)))
    try:
        job_id = str(uuid.uuid4())
        posted = asyncio.create_task(client.post("/prompt", json={"prompt": BUSY, "prompt_id": job_id}))
        assert await asyncio.to_thread(store.claimed.wait, 10)
        # The cancel is recorded now; its answer (what it did) comes once the job it reached has stopped.
        cancel = asyncio.create_task(client.post(f"/api/jobs/{job_id}/cancel"))
        for _ in range(200):
            found = store.get(job_id)
            if found is not None and found.cancel_requested:
                break
            await asyncio.sleep(0.01)
        store.release.set()
        assert await (await cancel).json() == {"cancelled": True}
        assert (await posted).status == 200
        for _ in range(200):
            job = store.get(job_id)
            if job is not None and job.state is not JobState.IN_PROGRESS:
                break
            await asyncio.sleep(0.05)
        assert job is not None and job.state is JobState.CANCELLED
        assert executor.submitted == [job_id]
    finally:
        store.release.set()
        await client.close()
        store.close()
