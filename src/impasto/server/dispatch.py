"""The dispatcher: hands pending jobs to idle workers and turns what workers report into stored state and
socket messages. Every job state change is committed to the store before it is announced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from impasto.protocol.events import EventType
from impasto.queue import Job, JobResult, JobState, JobStore
from impasto.server.hub import Hub, QueueCounts
from impasto.server.status import read_counts
from impasto.workers.executor import Executor
from impasto.workers.messages import JobEvent, JobFinished, JobPreview, JobSpec, WorkerGone

log = logging.getLogger(__name__)

_FINAL_STATES = {"success": JobState.COMPLETED, "error": JobState.FAILED, "interrupted": JobState.CANCELLED}


def now_ms() -> int:
    return int(time.time() * 1000)


class Dispatcher:
    def __init__(self, store: JobStore, executor: Executor, hub: Hub) -> None:
        self.store = store
        self.executor = executor
        self.hub = hub
        self.sensitive: dict[str, dict[str, str]] = {}  # job id -> auth values, in memory only
        self._wake = asyncio.Event()
        self._starting: set[str] = set()  # claimed, not yet handed to a worker
        self._cancel_after_start: set[str] = set()
        self._running: dict[str, Job] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._message_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def kick(self) -> None:
        """Something changed (a submission, a finished job, resume): look for work."""
        self._wake.set()

    def interrupt(self, job_id: str) -> None:
        """Deliver a recorded cancel to the job's worker (later, if the job is between claim and start)."""
        if job_id in self._starting:
            self._cancel_after_start.add(job_id)
        else:
            self.executor.interrupt(job_id)

    async def _claim_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.executor.idle():
                claimed = await asyncio.to_thread(self._claim)
                if claimed is None:
                    break
                job, counts = claimed
                self._starting.add(job.id)
                self._running[job.id] = job
                self.hub.run_started(job.id, job.client_id)
                self.hub.status(counts)
                spec = JobSpec(
                    job.id, job.prompt, job.outputs_to_execute, job.extra_data, self.sensitive.get(job.id, {})
                )
                self.executor.submit(spec)
                self._starting.discard(job.id)
                if job.cancel_requested or job.id in self._cancel_after_start:
                    self._cancel_after_start.discard(job.id)
                    self.executor.interrupt(job.id)

    def _claim(self) -> tuple[Job, QueueCounts] | None:
        # One thread hop for the claim and the counts its `status` announces.
        job = self.store.claim_next("local", now_ms())
        return None if job is None else (job, read_counts(self.store))

    async def _message_loop(self) -> None:
        async for item in self.executor.messages():
            try:
                await self._handle(item)
            except Exception:
                log.exception("could not handle a worker message %s", type(item).__name__)

    async def _handle(self, item: Any) -> None:
        if isinstance(item, JobEvent):
            self.hub.run_event(item.job_id, item.type, item.data)
        elif isinstance(item, JobPreview):
            self.hub.run_preview(item.job_id, item.node_id, item.image_format, item.image)
        elif isinstance(item, JobFinished):
            state = _FINAL_STATES.get(item.status, JobState.FAILED)
            await self._finish(item.job_id, state, item.outputs, item.meta, item.messages, None)
        elif isinstance(item, WorkerGone):
            if item.job_id is not None and item.job_id in self._running:
                await self._worker_crashed(item)
            self.kick()
        else:
            self.kick()

    async def _worker_crashed(self, gone: WorkerGone) -> None:
        job_id = gone.job_id
        assert job_id is not None
        job = self._running[job_id]
        data: dict[str, Any] = {
            "prompt_id": job_id,
            "node_id": None,
            "node_type": None,
            "executed": [],
            "exception_message": f"The worker process exited unexpectedly (exit code {gone.exitcode}).\n",
            "exception_type": "impasto.WorkerCrashed",
            "traceback": [],
            "current_inputs": {},
            "current_outputs": list(job.prompt),
            "timestamp": now_ms(),
        }
        self.hub.run_event(job_id, EventType.EXECUTION_ERROR.value, data)
        messages: list[list[Any]] = [[EventType.EXECUTION_ERROR.value, data]]
        await self._finish(job_id, JobState.FAILED, {}, {}, messages, "worker_crashed")

    async def _finish(
        self,
        job_id: str,
        state: JobState,
        outputs: dict[str, Any],
        meta: dict[str, Any],
        messages: list[list[Any]],
        stop_reason: str | None,
    ) -> None:
        status_str = "success" if state is JobState.COMPLETED else "error"
        result = JobResult(state, outputs, meta, messages, status_str, now_ms(), stop_reason)

        def finish() -> QueueCounts:
            self.store.finish(job_id, result)
            return read_counts(self.store)

        counts = await asyncio.to_thread(finish)
        self._running.pop(job_id, None)
        self.sensitive.pop(job_id, None)
        self.hub.status(counts)
        self.hub.run_finished(job_id)
        self.kick()
