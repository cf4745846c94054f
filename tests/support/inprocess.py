"""In-process stand-ins for the node host and the workers: the real engine and registry, without subprocesses.

API tests use them to exercise every route quickly; integration tests use the real subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from impasto.engine.cancel import CancelToken
from impasto.engine.events import Event
from impasto.engine.registry import NodeRegistry
from impasto.engine.runner import Engine, RunRequest
from impasto.engine.validation import local_validate_hook
from impasto.graph.catalog import CatalogEntryJson
from impasto.graph.validate import ValidateCall, ValidateResult
from impasto.workers.executor import ExecutorMessage
from impasto.workers.messages import CancelAnswer, JobEvent, JobFinished, JobPreview, JobSpec, WorkerReady


class InProcessNodeHost:
    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        self._hook = local_validate_hook(registry)

    def catalog(self) -> dict[str, CatalogEntryJson]:
        return self.registry.catalog_entries()

    def validate(self, call: ValidateCall) -> Sequence[ValidateResult]:
        return self._hook(call)

    def routes(self) -> None:
        return None

    def web_directories(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


class ThreadExecutor:
    """One worker: the engine runs each job on a thread; `hold` keeps submitted jobs waiting until released."""

    def __init__(self, registry: NodeRegistry) -> None:
        self.engine = Engine(registry)
        self._queue: asyncio.Queue[ExecutorMessage] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._job: str | None = None
        self._token: CancelToken | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.submitted: list[str] = []
        self.freed: list[tuple[bool, bool]] = []
        self._arrived: Callable[[], None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue.put_nowait(WorkerReady("thread", []))

    def idle_workers(self) -> list[str]:
        return ["thread"] if self._loop is not None and self._job is None else []

    def submit(self, worker_id: str, job: JobSpec) -> None:
        assert self._loop is not None
        self._job = job.job_id
        self._token = token = CancelToken()
        self.submitted.append(job.job_id)
        loop = self._loop

        def put(message: ExecutorMessage) -> None:
            call(self._put, message)

        def call(function: Callable[..., None], *args: Any) -> None:
            # A job thread can outlive its test's event loop (a test that ends with a job still running).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(function, *args)

        def sink(event: Any) -> None:
            if isinstance(event, Event):
                put(JobEvent(job.job_id, event.type.value, dict(event.data)))
            else:
                put(JobPreview(job.job_id, event.node_id, event.image_format, event.image))

        def work() -> None:
            self.gate.wait()
            request = RunRequest(job.job_id, job.prompt, job.outputs, job.extra(), job.sensitive)
            result = self.engine.run_sync(request, sink, token)
            messages = [[name, data] for name, data in result.messages]
            call(self._done, job.job_id)
            put(JobFinished(job.job_id, result.status.value, result.outputs, result.meta, messages))

        threading.Thread(target=work, name=f"job-{job.job_id}", daemon=True).start()

    def _done(self, job_id: str) -> None:
        if self._job == job_id:
            self._job = None

    def interrupt(self, job_id: str, *, force: bool = False) -> bool:
        if self._job == job_id and self._token is not None:
            # As a worker does: every cancel is answered with whether it ends the job cancelled.
            self._queue.put_nowait(CancelAnswer(job_id, self._token.cancel()))
            return True
        return False

    def free(self, *, unload_models: bool, free_memory: bool) -> None:
        self.freed.append((unload_models, free_memory))

    def devices(self) -> list[dict[str, Any]]:
        return []

    def workers(self) -> list[dict[str, Any]]:
        state = "busy" if self._job else ("idle" if self._loop else "starting")
        return [
            {
                "id": "thread",
                "device": "cpu",
                "state": state,
                "job_id": self._job,
                "pid": None,
                "restarts": 0,
                "rss_bytes": 0,
            }
        ]

    async def messages(self) -> AsyncIterator[ExecutorMessage]:
        while True:
            yield await self._queue.get()

    def _put(self, message: ExecutorMessage) -> None:
        self._queue.put_nowait(message)
        if self._arrived is not None:
            self._arrived()

    def listen(self, arrived: Callable[[], None]) -> None:
        self._arrived = arrived

    def poll(self) -> list[ExecutorMessage]:
        taken = []
        while not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    async def close(self) -> None:
        self.gate.set()
