"""`LocalProcessExecutor`: worker subprocesses (spawned, never forked) on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from impasto.config import Settings
from impasto.workers._entry import run_worker
from impasto.workers.executor import ExecutorMessage
from impasto.workers.gpus import visible_gpus
from impasto.workers.messages import (
    CancelJob,
    FreeMemory,
    Heartbeat,
    JobFinished,
    JobSpec,
    RunJob,
    Stop,
    WorkerGone,
    WorkerReady,
)
from impasto.workers.messages import send as send_message
from impasto.workers.pipe_reader import PipeReader

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Worker:
    worker_id: str
    process: BaseProcess
    conn: Connection
    ready: asyncio.Event
    job_id: str | None = None
    devices: list[dict[str, Any]] = field(default_factory=list)
    last_heartbeat: float = field(default_factory=time.monotonic)
    unresponsive: bool = False
    jobs_done: int = 0
    rss_bytes: int = 0  # as reported after its last job
    retiring: bool = False  # recycled: takes no more jobs, exits, and is replaced
    # Force-stopped: takes no more jobs, even when the stopped job's own end arrives before the exit does.
    killed: bool = False
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    reader: PipeReader | None = None

    @property
    def leaving(self) -> bool:
        """Recycled, force-stopped or unresponsive: it exits, takes no more jobs, and is replaced."""
        return self.retiring or self.killed or self.unresponsive

    def send(self, message: object) -> None:
        with self.send_lock:
            send_message(self.conn, message)


def _state(worker: _Worker) -> str:
    """As /api/impasto/queue lists it (http-api.md §7.3)."""
    if worker.leaving:
        return "stopping"
    if worker.job_id:
        return "busy"
    return "idle" if worker.ready.is_set() else "starting"


def _kill_if_alive(process: BaseProcess) -> None:
    if process.is_alive():
        process.kill()


class LocalProcessExecutor:
    """One worker process per slot; the event loop reads each worker's messages (workers/pipe_reader.py)."""

    def __init__(
        self,
        settings: Settings,
        workers: int = 1,
        *,
        heartbeat_timeout: float = 30.0,
        recycle_jobs: int | None = None,
        recycle_rss_mb: float | None = None,
    ) -> None:
        self._heartbeat_timeout = heartbeat_timeout
        self._recycle_jobs = recycle_jobs
        self._recycle_rss = None if recycle_rss_mb is None else int(recycle_rss_mb * 1024 * 1024)
        self._watchdog: asyncio.Task[None] | None = None
        self._settings = settings
        self._count = max(1, workers)
        self._workers: dict[str, _Worker] = {}
        self._messages: asyncio.Queue[ExecutorMessage] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._restarts: dict[str, int] = {}
        self._arrived: Callable[[], None] | None = None
        self._gpus = [] if settings.cpu else visible_gpus()  # worker i computes on GPU i (mod their number)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for index in range(self._count):
            self._spawn(f"worker-{index}")
        self._watchdog = asyncio.create_task(self._watch())
        await asyncio.gather(*(w.ready.wait() for w in self._workers.values()))

    async def _watch(self) -> None:
        """Kill a worker whose heartbeats stopped; its job then fails as unresponsive."""
        while True:
            await asyncio.sleep(min(1.0, self._heartbeat_timeout / 2))
            now = time.monotonic()
            for worker in list(self._workers.values()):
                silent = now - worker.last_heartbeat
                if worker.ready.is_set() and not worker.unresponsive and silent > self._heartbeat_timeout:
                    log.error("worker %s sent no heartbeat for %.1f s; killing it", worker.worker_id, silent)
                    worker.unresponsive = True
                    worker.process.kill()

    def _spawn(self, worker_id: str) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        index = int(worker_id.rsplit("-", 1)[1])
        gpu = self._gpus[index % len(self._gpus)] if self._gpus else None
        process = context.Process(
            target=run_worker, args=(child, self._settings, worker_id, gpu), name=f"impasto-{worker_id}", daemon=True
        )
        process.start()
        child.close()
        worker = _Worker(worker_id, process, parent, asyncio.Event(), reader=PipeReader(parent.fileno()))
        self._workers[worker_id] = worker
        assert self._loop is not None and worker.reader is not None
        self._loop.add_reader(worker.reader.fileno, self._readable, worker)

    def _readable(self, worker: _Worker) -> None:
        """On the loop: every whole message goes on in order; EOF means the process is gone."""
        reader = worker.reader
        if reader is None:
            return
        frames, closed = reader.read()
        messages: list[ExecutorMessage | Heartbeat] = []
        for frame in frames:
            try:
                message = pickle.loads(frame)
            except Exception:
                log.exception("worker %s sent a message that does not decode; dropped", worker.worker_id)
                continue
            # A worker sends a run's events in batches.
            messages.extend(message if isinstance(message, list) else [message])
        if messages:
            self._on_messages(worker, messages)
        if closed:
            assert self._loop is not None
            self._loop.remove_reader(reader.fileno)
            reader.close()
            worker.reader = None
        if messages and self._arrived is not None:
            self._arrived()
        if closed:
            threading.Thread(
                target=self._reap, args=(worker,), name=f"impasto-{worker.worker_id}-reap", daemon=True
            ).start()

    def _reap(self, worker: _Worker) -> None:
        """The worker's pipe closed: wait for its exit code, then report it gone."""
        worker.process.join(timeout=5)
        self._deliver(worker, [WorkerGone(worker.worker_id, worker.job_id, worker.process.exitcode)])

    def _deliver(self, worker: _Worker, messages: list[ExecutorMessage | Heartbeat]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop may close in between
            loop.call_soon_threadsafe(self._on_messages, worker, messages)

    def _on_messages(self, worker: _Worker, messages: list[ExecutorMessage | Heartbeat]) -> None:
        for message in messages:
            self._on_message(worker, message)

    def _on_message(self, worker: _Worker, message: ExecutorMessage | Heartbeat) -> None:
        if isinstance(message, Heartbeat):
            worker.last_heartbeat = time.monotonic()
            return
        if isinstance(message, WorkerReady):
            worker.devices = message.devices
            worker.last_heartbeat = time.monotonic()
            worker.ready.set()
        elif isinstance(message, JobFinished) and worker.job_id == message.job_id:
            worker.job_id = None
            worker.jobs_done += 1
            worker.rss_bytes = message.rss_bytes
            reason = None
            if self._recycle_jobs is not None and worker.jobs_done >= self._recycle_jobs:
                reason = f"after {worker.jobs_done} jobs"
            elif self._recycle_rss is not None and message.rss_bytes > self._recycle_rss:
                reason = f"at {message.rss_bytes / 2**20:.0f} MB resident"
            if reason is not None:
                log.info("recycling worker %s %s", worker.worker_id, reason)
                worker.retiring = True
                with contextlib.suppress(OSError):
                    worker.send(Stop())
        elif isinstance(message, WorkerGone):
            message = WorkerGone(message.worker_id, message.job_id, message.exitcode, worker.unresponsive)
            self._workers.pop(worker.worker_id, None)
            worker.ready.set()
            if not self._closing:
                if worker.retiring:
                    log.info("worker %s recycled; starting a new one", worker.worker_id)
                else:
                    log.error("worker %s exited with code %s; starting a new one", worker.worker_id, message.exitcode)
                self._restarts[worker.worker_id] = self._restarts.get(worker.worker_id, 0) + 1
                self._spawn(worker.worker_id)
        self._messages.put_nowait(message)

    def idle_workers(self) -> list[str]:
        return [
            worker.worker_id
            for worker in self._workers.values()
            if worker.ready.is_set() and worker.job_id is None and not worker.leaving
        ]

    def submit(self, worker_id: str, job: JobSpec) -> None:
        worker = self._workers[worker_id]
        worker.job_id = job.job_id
        worker.send(RunJob(job))

    def interrupt(self, job_id: str, *, force: bool = False) -> bool:
        found = False
        for worker in self._workers.values():
            if worker.job_id != job_id:
                continue
            found = True
            if not force:
                with contextlib.suppress(OSError):  # a worker that just died is reported by its reader
                    worker.send(CancelJob(job_id))
                continue
            # SIGTERM, then SIGKILL half a second later: the loop reads the pipe closing either way.
            worker.killed = True
            worker.process.terminate()
            if self._loop is not None:
                self._loop.call_later(0.5, _kill_if_alive, worker.process)
        return found

    def free(self, *, unload_models: bool, free_memory: bool) -> None:
        for worker in self._workers.values():
            worker.send(FreeMemory(unload_models, free_memory))

    def devices(self) -> list[dict[str, Any]]:
        return [d for w in self._workers.values() for d in w.devices]

    def workers(self) -> list[dict[str, Any]]:
        return [
            {
                "id": w.worker_id,
                "device": "cpu",
                "state": _state(w),
                "job_id": w.job_id,
                "pid": w.process.pid,
                "restarts": self._restarts.get(w.worker_id, 0),
                "rss_bytes": w.rss_bytes,
            }
            for w in self._workers.values()
        ]

    async def messages(self) -> AsyncIterator[ExecutorMessage]:
        while True:
            yield await self._messages.get()

    def listen(self, arrived: Callable[[], None]) -> None:
        self._arrived = arrived

    def poll(self) -> list[ExecutorMessage]:
        for worker in list(self._workers.values()):
            # What the loop has not read yet, from the workers running a job (one non-blocking read each): the
            # reports that matter come from them, and an idle worker's heartbeat waits for the loop's turn.
            if worker.job_id is not None:
                self._readable(worker)
        taken = []
        while not self._messages.empty():
            taken.append(self._messages.get_nowait())
        return taken

    async def close(self) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        workers = list(self._workers.values())
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.send(Stop())
        for worker in workers:
            await asyncio.to_thread(worker.process.join, 3)
            if worker.process.is_alive():
                worker.process.kill()
                await asyncio.to_thread(worker.process.join, 3)
            if worker.reader is not None and self._loop is not None:
                self._loop.remove_reader(worker.reader.fileno)
                worker.reader.close()
                worker.reader = None
            worker.conn.close()
