"""One real server for the command-line tests (the stopping and seeded node packs installed), and a way to run
the `impasto` command in this process and read what it printed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from impasto.cli import main
from tests.support import seed_nodes, stop_nodes
from tests.support.server_process import ServerProcess

SAVE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cli"}},
}
FAIL = {  # divides by zero when it runs
    "1": {"class_type": "ImpastoIntMath", "inputs": {"a": 1, "b": 0, "op": "divide"}},
    "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
}
STUCK = {"1": {"class_type": "Stuck", "inputs": {"seconds": 120.0}, "_meta": {"title": "Never checks in"}}}


def progress(steps: int = 100_000) -> dict:
    """A job that reports progress every 10 ms and stops at its next report when interrupted."""
    return {"1": {"class_type": "TenMsProgress", "inputs": {"steps": steps}, "_meta": {"title": "Ticker"}}}


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    base: Path = tmp_path_factory.mktemp("cli")
    stop_nodes.install(base)
    seed_nodes.install(base)
    process = ServerProcess(base, "--interrupt-grace", "30").start()
    yield process
    process.stop()


@pytest.fixture
def cli(capsys, server) -> Callable[..., Result]:
    """`impasto ARGS --server <the test server>` in this process."""

    def invoke(*argv: str, server_flag: bool = True) -> Result:
        capsys.readouterr()
        words = [*argv, "--server", server.url] if server_flag else list(argv)
        code = main(words)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def submit(server: ServerProcess, prompt: dict, **body: Any) -> str:
    status, answer = server.request("POST", "/prompt", {"prompt": prompt, **body})
    assert status == 200, answer
    return str(answer["prompt_id"])


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def job(server: ServerProcess, job_id: str) -> dict:
    status, body = server.request("GET", f"/api/impasto/jobs/{job_id}")
    assert status == 200, body
    return body


def running(server: ServerProcess, job_id: str) -> bool:
    return job(server, job_id)["status"] == "in_progress"


def executing(server: ServerProcess, job_id: str) -> bool:
    """The job's worker has begun its nodes (an interrupt now stops it, rather than removing it unstarted)."""
    running = server.request("GET", "/api/impasto/queue")[1]["running"]
    return any(entry["id"] == job_id and entry["node"] is not None for entry in running)


def finished(server: ServerProcess, job_id: str) -> dict | None:
    details = job(server, job_id)
    return details if details["status"] in ("completed", "failed", "cancelled") else None


def idle(server: ServerProcess) -> None:
    """Nothing pending or running and the queue not paused, whatever a test left behind."""
    server.request("POST", "/api/impasto/queue/resume")
    server.request("POST", "/api/impasto/queue/clear", {"include_running": True})
    try:  # jobs that check in stop at once; a force stop racing their end can leave the server waiting
        wait_for(lambda: not server.request("GET", "/api/impasto/queue")[1]["running"], timeout=3)
    except TimeoutError:
        for entry in server.request("GET", "/api/impasto/queue")[1]["running"]:
            server.request("POST", f"/api/impasto/jobs/{entry['id']}/force-stop")
    wait_for(lambda: not server.request("GET", "/api/impasto/queue")[1]["running"])
