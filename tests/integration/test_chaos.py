"""Chaos: jobs keep flowing while the worker is killed again and again; every job ends exactly once."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.integration.test_server_process import wait_for
from tests.support.server_process import ServerProcess

# 50 worker respawns, each importing torch afresh: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

JOBS = 200
KILLS = 50


def job(index: int) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": index}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 9, "sigma": 1.0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def test_every_job_reaches_exactly_one_terminal_state_while_workers_are_killed(tmp_path):
    rng = random.Random(1234)
    server = ServerProcess(tmp_path / "base").start()
    try:
        ids = [server.request("POST", "/prompt", {"prompt": job(i)})[1]["prompt_id"] for i in range(JOBS)]
        kills = 0
        while kills < KILLS:
            status = server.request("GET", "/api/impasto/queue")[1]
            if not status["pending"] and not status["running"]:
                break  # the queue drained before all kills: fine, the rest of the checks still hold
            busy = [w for w in status["workers"] if w["state"] == "busy" and w["pid"]]
            if busy:
                time.sleep(rng.uniform(0.0, 0.05))
                try:
                    os.kill(busy[0]["pid"], signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        assert kills == KILLS, f"the queue drained after {kills} kills"
        wait_for(lambda: not server.request("GET", "/api/impasto/queue")[1]["pending"], timeout=300)
        wait_for(lambda: not server.request("GET", "/api/impasto/queue")[1]["running"], timeout=60)
        history = server.request("GET", "/history")[1]
        assert sorted(history) == sorted(ids)  # none lost, none twice (one entry per id)
        outcomes = {"success": 0, "crashed": 0}
        for prompt_id in ids:
            entry = history[prompt_id]
            names = [m[0] for m in entry["status"]["messages"]]
            terminal = [n for n in names if n in ("execution_success", "execution_error", "execution_interrupted")]
            assert len(terminal) == 1, (prompt_id, names)
            if entry["status"]["status_str"] == "success":
                outcomes["success"] += 1
            else:
                error = dict(entry["status"]["messages"])["execution_error"]
                assert error["exception_type"] == "impasto.WorkerCrashed"
                outcomes["crashed"] += 1
        assert outcomes["crashed"] >= 1 and outcomes["success"] >= 1
        _, jobs = server.request("GET", "/api/jobs?status=pending,in_progress")
        assert jobs["pagination"]["total"] == 0
    finally:
        server.stop()
