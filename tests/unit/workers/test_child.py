"""The worker loop over a real pipe: early cancels, events, and the job boundary."""

from __future__ import annotations

import multiprocessing
import threading

from impasto.config import Settings
from impasto.workers.child import worker_main
from impasto.workers.messages import (
    CancelAnswer,
    CancelJob,
    Heartbeat,
    JobEvent,
    JobFinished,
    JobSpec,
    RunJob,
    Stop,
    WorkerReady,
)

PROMPT = {
    "1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
}


def test_a_job_cancelled_before_it_starts_runs_nothing_and_the_next_one_runs(tmp_path, configure_nodes):
    parent, child = multiprocessing.Pipe()
    worker = threading.Thread(target=worker_main, args=(child, Settings.defaults(tmp_path), "w-test"), daemon=True)
    worker.start()
    try:
        assert isinstance(parent.recv(), WorkerReady)
        parent.send(CancelJob("early"))  # the cancel arrives before the job: it must not be lost
        parent.send(RunJob(JobSpec("early", PROMPT, ["2"], {})))
        parent.send(RunJob(JobSpec("next", PROMPT, ["2"], {})))
        received: list[object] = []
        while not (received and isinstance(received[-1], JobFinished) and received[-1].job_id == "next"):
            message = parent.recv()
            batch = message if isinstance(message, list) else [message]  # events come in batches
            received.extend(m for m in batch if not isinstance(m, Heartbeat))
        early = [m for m in received if getattr(m, "job_id", None) == "early"]
        assert early == [CancelAnswer("early", True), JobFinished("early", "removed", {}, {}, [])]
        later = [m for m in received if getattr(m, "job_id", None) == "next"]
        assert next(m.type for m in later if isinstance(m, JobEvent)) == "execution_start"
        last = later[-1]
        assert isinstance(last, JobFinished)
        assert last.status == "success" and last.outputs == {"2": {"text": ["3"]}}
    finally:
        parent.send(Stop())
        worker.join(timeout=30)
        parent.close()


def test_a_cancel_is_answered_with_whether_it_ends_the_job(tmp_path, configure_nodes):
    parent, child = multiprocessing.Pipe()
    worker = threading.Thread(target=worker_main, args=(child, Settings.defaults(tmp_path), "w-test"), daemon=True)
    worker.start()

    def until(done) -> list[object]:
        received: list[object] = []
        while not (received and done(received[-1])):
            message = parent.recv()
            received.extend(
                m for m in (message if isinstance(message, list) else [message]) if not isinstance(m, Heartbeat)
            )
        return received

    try:
        assert isinstance(parent.recv(), WorkerReady)
        parent.send(RunJob(JobSpec("done", PROMPT, ["2"], {})))
        finished = until(lambda m: isinstance(m, JobFinished))[-1]
        assert isinstance(finished, JobFinished) and finished.status == "success"
        parent.send(CancelJob("done"))  # it ended before the cancel: refused
        assert until(lambda m: isinstance(m, CancelAnswer)) == [CancelAnswer("done", False)]
        parent.send(CancelJob("done"))
        assert until(lambda m: isinstance(m, CancelAnswer)) == [CancelAnswer("done", False)]
    finally:
        parent.send(Stop())
        worker.join(timeout=30)
        parent.close()
