"""Ctrl+C during `impasto run` in a terminal: once interrupts the running job cooperatively, twice force-stops
it; the command exits 130 either way, and the run's jobs that had not started are taken off the queue."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import STUCK, finished, idle, progress, wait_for
from tests.cli.terminal import Terminal
from tests.support import stop_nodes

pytestmark = pytest.mark.slow


@pytest.fixture
def terminal():
    opened: list[Terminal] = []

    def start(*argv: str, cwd: str | None = None) -> Terminal:
        opened.append(Terminal(*argv, cwd=cwd))
        return opened[-1]

    yield start
    for term in opened:
        term.close()


def run_jobs(server) -> list[str]:
    """Ids of the jobs the last run queued, oldest first."""
    jobs = server.request("GET", "/api/jobs?sort_order=asc&status=pending,in_progress,completed,failed,cancelled")[1]
    return [job["id"] for job in jobs["jobs"]]


def test_ctrl_c_once_interrupts_the_running_job_and_removes_the_rest(server, terminal, tmp_path):
    idle(server)
    workflow = tmp_path / "ticker.json"
    workflow.write_text(json.dumps(progress()))
    before = set(run_jobs(server))
    term = terminal("run", str(workflow), "--batch", "2", "--seed", "fixed", "--server", server.url)
    term.expect("Ticker")  # the running node's title on the progress line
    running, waiting = [job_id for job_id in run_jobs(server) if job_id not in before]
    term.ctrl_c()
    assert term.wait() == 130
    assert finished(server, running)["stop_reason"] == "interrupted"
    assert finished(server, waiting)["stop_reason"] == "removed"
    assert "job 1/2 interrupted" in term.text() and "job 2/2 removed from the queue" in term.text()


def test_ctrl_c_twice_force_stops_a_job_that_never_checks_in(server, terminal, tmp_path):
    idle(server)
    workflow = tmp_path / "stuck.json"
    workflow.write_text(json.dumps(STUCK))
    before = set(run_jobs(server))
    term = terminal("run", str(workflow), "--server", server.url)
    term.expect("Never checks in")
    (stuck,) = (job_id for job_id in run_jobs(server) if job_id not in before)
    term.ctrl_c()
    term.expect("press Ctrl+C again to force-stop")
    wait_for(lambda: server.request("GET", "/api/impasto/queue")[1]["running"][0]["cancel_requested"])
    assert not term.exited() and finished(server, stuck) is None  # the grace period is 30 s
    term.ctrl_c()
    assert term.wait() == 130
    assert finished(server, stuck)["stop_reason"] == "force_stopped"
    assert "job interrupted" in term.text()


def test_ctrl_c_reaches_the_command_not_the_embedded_worker(terminal, tmp_path):
    base = tmp_path / "base"
    stop_nodes.install(base)
    workflow = tmp_path / "ticker.json"
    workflow.write_text(json.dumps(progress()))
    term = terminal("run", str(workflow), "--base-directory", str(base))
    term.expect("Ticker", timeout=120)
    term.ctrl_c()
    assert term.wait() == 130
    # The worker ignored the terminal's SIGINT: the job stopped cooperatively, it did not crash.
    assert "job interrupted" in term.text() and "WorkerCrashed" not in term.text()
