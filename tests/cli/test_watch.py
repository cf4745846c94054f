"""`impasto watch`: the queue and the running jobs' progress, live, whoever queued them; Ctrl+C leaves (exit 0)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from tests.cli.conftest import SAVE, idle, progress, submit
from tests.cli.terminal import Terminal
from tests.support.server_process import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def clean_queue(server):
    idle(server)
    yield
    idle(server)


class Lines:
    """The JSON lines a `watch --json` subprocess writes, read on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stdout) -> None:
        for line in stdout:
            self.lines.put(line)

    def until(self, predicate: Callable[[dict], bool], timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                snapshot = json.loads(self.lines.get(timeout=0.5))
            except queue.Empty:
                continue
            if predicate(snapshot):
                return snapshot
        raise AssertionError("no such snapshot")


def test_watch_json_follows_the_running_job_and_the_queue(server):
    command = [sys.executable, "-m", "impasto", "watch", "--json", "--server", server.url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        lines = Lines(process)
        lines.until(lambda s: s["running"] == [])
        ticker = submit(server, progress())  # queued by someone else: watch is an observer
        snapshot = lines.until(lambda s: bool(s["running"]) and (s["running"][0]["progress"] or {}).get("value", 0) > 1)
        (row,) = snapshot["running"]
        assert row["id"] == ticker and row["title"] == "Ticker" and row["progress"]["max"] == 100_000
        server.request("POST", "/api/impasto/queue/pause")
        waiting = submit(server, SAVE)
        lines.until(lambda s: s["paused"] is True and s["pending"] == [waiting])
        server.request("POST", f"/api/impasto/jobs/{ticker}/cancel", {})
        lines.until(lambda s: s["running"] == [] and s["counts"]["cancelled"] >= 1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_watch_in_a_terminal_draws_the_running_node(server):
    term = Terminal("watch", "--server", server.url)
    try:
        term.expect("queue running")
        submit(server, progress())
        term.expect("Ticker (#1)")
        term.ctrl_c()
        assert term.wait() == 0
    finally:
        term.close()


def test_watch_needs_a_reachable_server(cli):
    result = cli("watch", "--server", f"127.0.0.1:{free_port()}", server_flag=False)
    assert result.code == 2 and "cannot reach the server" in result.err
