"""The worker loop over a real pipe: early cancels, events, and the job boundary."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

from impasto.config import Settings
from impasto.workers import child
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


@contextmanager
def running_worker(tmp_path: Path) -> Iterator[Connection]:
    """A worker loop on a thread of this process, over a real pipe; yields the server's end once it is ready."""
    parent, pipe = multiprocessing.Pipe()
    worker = threading.Thread(target=worker_main, args=(pipe, Settings.defaults(tmp_path), "w-test"), daemon=True)
    worker.start()
    try:
        assert isinstance(_messages(parent)[0], WorkerReady)
        yield parent
    finally:
        parent.send(Stop())
        worker.join(timeout=30)
        parent.close()


def _messages(parent: Connection) -> list[object]:
    message = parent.recv()  # events come in batches
    return [m for m in (message if isinstance(message, list) else [message]) if not isinstance(m, Heartbeat)]


def until(parent: Connection, received: list[object], done: Callable[[list[object]], bool], missing: str) -> None:
    """Add what the worker sends to `received` until `done(received)`; fails with `missing` after 30 s of silence."""
    while not done(received):
        assert parent.poll(30), missing
        received.extend(_messages(parent))


def ends_with(job_id: str) -> Callable[[list[object]], bool]:
    return lambda received: bool(received) and isinstance(received[-1], JobFinished) and received[-1].job_id == job_id


def announced(node: str) -> Callable[[list[object]], bool]:
    return lambda received: any(
        isinstance(m, JobEvent) and m.type == "executing" and m.data["node"] == node for m in received
    )


def test_a_job_cancelled_before_it_starts_runs_nothing_and_the_next_one_runs(tmp_path, configure_nodes):
    with running_worker(tmp_path) as parent:
        parent.send(CancelJob("early"))  # the cancel arrives before the job: it must not be lost
        parent.send(RunJob(JobSpec("early", PROMPT, ["2"], {})))
        parent.send(RunJob(JobSpec("next", PROMPT, ["2"], {})))
        received: list[object] = []
        until(parent, received, ends_with("next"), "the second job did not end")
        early = [m for m in received if getattr(m, "job_id", None) == "early"]
        assert early == [CancelAnswer("early", True), JobFinished("early", "removed", {}, {}, [])]
        later = [m for m in received if getattr(m, "job_id", None) == "next"]
        assert next(m.type for m in later if isinstance(m, JobEvent)) == "execution_start"
        last = later[-1]
        assert isinstance(last, JobFinished)
        assert last.status == "success" and last.outputs == {"2": {"text": ["3"]}}


def test_a_cancel_is_answered_with_whether_it_ends_the_job(tmp_path, configure_nodes):
    with running_worker(tmp_path) as parent:
        parent.send(RunJob(JobSpec("done", PROMPT, ["2"], {})))
        received: list[object] = []
        until(parent, received, ends_with("done"), "the job did not end")
        finished = received[-1]
        assert isinstance(finished, JobFinished) and finished.status == "success"
        for _ in range(2):  # it ended before the cancel: refused, each time
            parent.send(CancelJob("done"))
            answers: list[object] = []
            until(parent, answers, lambda got: bool(got) and isinstance(got[-1], CancelAnswer), "no answer")
            assert answers == [CancelAnswer("done", False)]


WAITS = """
import os, time

class WaitForFile:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"path": ("STRING", {"default": ""})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, path):
        while not os.path.exists(path):
            time.sleep(0.005)
        return {}

NODE_CLASS_MAPPINGS = {"WaitForFile": WaitForFile}
"""


def waiting_node(tmp_path: Path) -> tuple[dict[str, object], Path]:
    """A prompt whose one node runs until the returned file exists (a pack in the worker's custom_nodes)."""
    (tmp_path / "custom_nodes").mkdir()
    (tmp_path / "custom_nodes" / "waits.py").write_text(WAITS)
    release = tmp_path / "release"
    return {"1": {"class_type": "WaitForFile", "inputs": {"path": str(release)}}}, release


def test_a_tiny_jobs_events_and_its_end_cross_the_pipe_in_one_message(tmp_path, configure_nodes, monkeypatch):
    monkeypatch.setattr(child, "EVENT_TICK", 3600.0)  # no tick while the job runs: only its end sends
    with running_worker(tmp_path) as parent:
        parent.send(RunJob(JobSpec("tiny", PROMPT, ["2"], {})))
        batch = _messages(parent)
        types = [m.type for m in batch if isinstance(m, JobEvent)]
        assert types[0] == "execution_start" and types[-1] == "execution_success"
        assert "executing" in types and "executed" in types
        assert isinstance(batch[-1], JobFinished) and batch[-1].status == "success"


def test_a_node_that_runs_long_is_announced_while_it_runs(tmp_path, configure_nodes):
    prompt, release = waiting_node(tmp_path)
    with running_worker(tmp_path) as parent:
        try:
            parent.send(RunJob(JobSpec("long", prompt, ["1"], {})))
            received: list[object] = []
            until(parent, received, announced("1"), "the running node was not announced while it ran")
            assert not any(isinstance(m, JobFinished) for m in received)
            release.touch()
            until(parent, received, ends_with("long"), "the job did not end")
            assert [m.status for m in received if isinstance(m, JobFinished)] == ["success"]
        finally:
            release.touch()  # before the stop, so the waiting node lets the worker go


def test_resident_bytes_follows_this_processs_memory():
    before = child.resident_bytes()
    block = b"\x01" * (64 * 2**20)  # written, so every page is resident
    grown = child.resident_bytes()
    assert before > 0 and grown - before >= 32 * 2**20
    del block


def test_a_cancel_reaches_a_running_job_at_once_and_what_else_came_runs_after_it(tmp_path, configure_nodes):
    prompt, release = waiting_node(tmp_path)
    with running_worker(tmp_path) as parent:
        try:
            parent.send(RunJob(JobSpec("long", prompt, ["1"], {})))
            parent.send(RunJob(JobSpec("next", PROMPT, ["2"], {})))  # waits for the job before it
            received: list[object] = []
            until(parent, received, announced("1"), "the running node was not announced while it ran")
            parent.send(CancelJob("long"))
            answered = CancelAnswer("long", True)
            until(parent, received, lambda got: answered in got, "the cancel was not answered while its job ran")
            assert not any(isinstance(m, JobFinished) for m in received)
            release.touch()
            until(parent, received, ends_with("next"), "the second job did not end")
            ends = [(m.job_id, m.status) for m in received if isinstance(m, JobFinished)]
            assert ends == [("long", "interrupted"), ("next", "success")]
        finally:
            release.touch()  # before the stop, so the waiting node lets the worker go


def test_extra_data_sent_as_json_text_reaches_the_nodes(tmp_path, configure_nodes):
    from PIL import Image

    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "text"}},
    }
    workflow = {"nodes": [{"id": 1, "title": "é", "pos": [10.5, 1e-07]}], "version": 0.4}
    extra = json.dumps({"client_id": "c", "extra_pnginfo": {"workflow": workflow}})
    with running_worker(tmp_path) as parent:
        parent.send(RunJob(JobSpec("text", prompt, ["2"], {}, {}, extra)))
        received: list[object] = []
        until(parent, received, ends_with("text"), "the job did not end")
        finished = received[-1]
        assert isinstance(finished, JobFinished)
        assert finished.status == "success"
        saved = finished.outputs["2"]["images"][0]["filename"]
        with Image.open(tmp_path / "output" / saved) as png:
            assert json.loads(png.info["workflow"]) == workflow
