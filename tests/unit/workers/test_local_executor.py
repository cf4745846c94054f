"""LocalProcessExecutor with a real worker process: which workers take a job while one is being killed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from impasto.config import Settings
from impasto.workers.local import LocalProcessExecutor
from impasto.workers.messages import JobFinished, JobSpec, WorkerGone

pytestmark = pytest.mark.slow

TINY = {
    "1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
}


def worker_state(executor: LocalProcessExecutor) -> str:
    (worker,) = executor.workers()
    return str(worker["state"])


async def test_a_force_stopped_worker_takes_no_job_when_the_jobs_own_end_arrives_before_its_exit(tmp_path: Path):
    executor = LocalProcessExecutor(Settings.defaults(tmp_path))
    await executor.start()
    try:
        (worker_id,) = executor.idle_workers()
        first_pid = executor.workers()[0]["pid"]
        executor.submit(worker_id, JobSpec("job-1", TINY, ["2"], {}))
        # The loop does not turn until the force stop: the worker finishes the job and its end waits, unread, in
        # the pipe, so the executor still counts the job as running when it kills the worker (checked below).
        time.sleep(2.0)
        assert executor.interrupt("job-1", force=True)
        assert worker_state(executor) == "stopping"

        seen: list[object] = []
        idle_after_end: list[str] | None = None
        deadline = time.monotonic() + 60
        while not any(isinstance(m, WorkerGone) for m in seen):
            assert time.monotonic() < deadline, f"the killed worker was not reported gone: {seen}"
            for message in executor.poll():
                seen.append(message)
                if isinstance(message, JobFinished):
                    idle_after_end = executor.idle_workers()
            await asyncio.sleep(0.01)

        ends = [m for m in seen if isinstance(m, JobFinished)]
        assert [m.job_id for m in ends] == ["job-1"], "the job's own end must arrive before the exit for this test"
        assert idle_after_end == [], "a worker being killed was offered a job"
        (gone,) = [m for m in seen if isinstance(m, WorkerGone)]
        assert gone.job_id is None  # the job had ended: its end, not the exit, records it

        while not executor.idle_workers():  # the replacement
            assert time.monotonic() < deadline + 60, "no replacement worker"
            await asyncio.sleep(0.05)
        assert executor.workers()[0]["pid"] != first_pid
        assert worker_state(executor) == "idle"
    finally:
        await executor.close()
