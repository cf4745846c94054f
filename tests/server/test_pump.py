"""Worker reports handled by the next submission (Dispatcher.pump): at once, in order, each once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from impasto.queue import JobState, NewJob, SqliteJobStore
from impasto.server.dispatch import Dispatcher
from impasto.server.hub import Hub, QueueCounts
from impasto.workers.executor import ExecutorMessage
from impasto.workers.messages import JobEvent, JobFinished, JobSpec, WorkerGone


class ScriptedExecutor:
    """One worker whose reports the test writes; a job's end frees the worker when it is handed out."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ExecutorMessage] = asyncio.Queue()
        self.running: str | None = None
        self.submitted: list[str] = []

    def report(self, *messages: ExecutorMessage) -> None:
        for message in messages:
            self._queue.put_nowait(message)

    def _taken(self, message: ExecutorMessage) -> ExecutorMessage:
        if isinstance(message, JobFinished | WorkerGone) and message.job_id == self.running:
            self.running = None
        return message

    async def start(self) -> None:
        pass

    def idle_workers(self) -> list[str]:
        return [] if self.running else ["w"]

    def submit(self, worker_id: str, job: JobSpec) -> None:
        self.running = job.job_id
        self.submitted.append(job.job_id)

    def interrupt(self, job_id: str, *, force: bool = False) -> bool:
        return self.running == job_id

    def free(self, *, unload_models: bool, free_memory: bool) -> None:
        pass

    def devices(self) -> list[dict[str, Any]]:
        return []

    def workers(self) -> list[dict[str, Any]]:
        return []

    async def messages(self) -> AsyncIterator[ExecutorMessage]:
        while True:
            yield self._taken(await self._queue.get())

    def listen(self, arrived: Callable[[], None]) -> None:
        pass  # the test decides when reports are handled

    def poll(self) -> list[ExecutorMessage]:
        taken = []
        while not self._queue.empty():
            taken.append(self._taken(self._queue.get_nowait()))
        return taken

    async def close(self) -> None:
        pass


def job(job_id: str) -> NewJob:
    prompt = {"1": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": job_id}}}
    return NewJob(job_id, None, prompt, {}, ["1"], "c1", 1000)


def events(job_id: str) -> list[ExecutorMessage]:
    return [
        JobEvent(job_id, "execution_start", {"prompt_id": job_id, "timestamp": 1}),
        JobEvent(job_id, "executing", {"node": "1", "display_node": "1", "prompt_id": job_id}),
        JobEvent(job_id, "execution_success", {"prompt_id": job_id, "timestamp": 2}),
        JobFinished(job_id, "success", {}, {}, [["execution_success", {"prompt_id": job_id, "timestamp": 2}]]),
    ]


@pytest.fixture
async def running(tmp_path) -> AsyncIterator[tuple[SqliteJobStore, ScriptedExecutor, Dispatcher]]:
    store, executor = SqliteJobStore(tmp_path / "q.db"), ScriptedExecutor()
    dispatcher = Dispatcher(store, executor, Hub())
    dispatcher.start()
    try:
        yield store, executor, dispatcher
    finally:
        await dispatcher.stop()
        store.close()


async def test_a_submission_first_records_the_end_that_arrived_and_hands_the_freed_worker_its_job(running):
    store, executor, dispatcher = running
    await dispatcher.enqueue(job("a"))
    await dispatcher.enqueue(job("b"))
    assert executor.submitted == ["a"]
    executor.report(*events("a"))
    # No await between the report and the submission: the message loop has not had a turn.
    await dispatcher.enqueue(job("c"))
    got = store.get("a")
    assert got is not None and got.state is JobState.COMPLETED
    assert executor.submitted == ["a", "b"]  # the next job in run order, not the new one
    executor.report(*events("b"))
    await asyncio.sleep(0.05)  # now the message loop's turn: handled there, once
    assert executor.submitted == ["a", "b", "c"]
    assert [j.id for j in store.history(0, None)] == ["a", "b"]  # each recorded once


async def test_a_report_that_needs_waiting_keeps_the_ones_after_it_waiting_in_order(running):
    store, executor, dispatcher = running
    await dispatcher.enqueue(job("a"))
    executor.report(WorkerGone("w", "a", -9))  # a worker's crash is handled by the message loop, with awaits
    await dispatcher.enqueue(job("b"))
    await asyncio.sleep(0.05)
    crashed = store.get("a")
    assert crashed is not None and crashed.state is JobState.FAILED
    assert executor.submitted == ["a", "b"]
    executor.report(*events("b"))
    await asyncio.sleep(0.05)
    finished = store.get("b")
    assert finished is not None and finished.state is JobState.COMPLETED


class RecordingHub(Hub):
    """A hub that writes what it announces, in order, to a log it shares with the executor."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.log = log

    def status(self, counts: QueueCounts) -> None:
        self.log.append(("status", f"{counts.pending}/{counts.running}"))
        super().status(counts)

    def run_started(self, prompt_id: str, client_id: str | None) -> None:
        self.log.append(("run_started", prompt_id))
        super().run_started(prompt_id, client_id)

    def run_event(self, prompt_id: str, type_: str, data: dict[str, Any]) -> None:
        self.log.append((type_, prompt_id))
        super().run_event(prompt_id, type_, data)

    def run_finished(self, prompt_id: str, *, ended: bool = True) -> None:
        self.log.append(("executing null", prompt_id))
        super().run_finished(prompt_id, ended=ended)


class RecordingExecutor(ScriptedExecutor):
    def __init__(self, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.log = log

    def submit(self, worker_id: str, job: JobSpec) -> None:
        self.log.append(("submit", job.job_id))
        super().submit(worker_id, job)


async def test_an_end_hands_out_the_next_job_before_its_run_is_announced_which_keeps_its_order(tmp_path):
    log: list[tuple[str, str]] = []
    store, executor = SqliteJobStore(tmp_path / "q.db"), RecordingExecutor(log)
    dispatcher = Dispatcher(store, executor, RecordingHub(log))
    dispatcher.start()
    try:
        await dispatcher.enqueue(job("a"))
        await dispatcher.enqueue(job("b"))
        log.clear()
        executor.report(*events("a"))
        dispatcher.pump()
        assert log == [
            ("submit", "b"),  # the worker waits for the store only
            ("execution_start", "a"),
            ("executing", "a"),
            ("execution_success", "a"),
            ("status", "1/0"),  # a's end
            ("executing null", "a"),
            ("status", "0/1"),  # b's claim
            ("run_started", "b"),
        ]
        done = store.get("a")
        assert done is not None and done.state is JobState.COMPLETED
    finally:
        await dispatcher.stop()
        store.close()
