"""Stopping jobs in real worker processes: escalation, force stop, crashes, typed cancels (execution.md §9)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.test_server_process import finished, wait_for
from tests.support import stop_nodes
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow


SAVE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "after"}},
}
STUCK = {"1": {"class_type": "Stuck", "inputs": {"seconds": 120.0}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base: Path = tmp_path_factory.mktemp("stopping")
    stop_nodes.install(base)
    process = ServerProcess(base, "--interrupt-grace", "1").start()
    yield process
    process.stop()


def submit(server, prompt):
    status, body = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 200, body
    return body["prompt_id"]


def running(server, prompt_id):
    """Claimed and started by its worker (which announced a node): a stop that lands between the claim and the
    start ends the job as removed, before it ran, which is not what these tests stop."""
    running = server.request("GET", "/api/impasto/queue")[1]["running"]
    return any(job["id"] == prompt_id and job["node"] is not None for job in running)


def test_a_job_that_ignores_the_interrupt_is_stopped_after_the_grace_period(server):
    stuck = submit(server, STUCK)
    after = submit(server, SAVE)
    wait_for(lambda: running(server, stuck))
    asked = time.monotonic()
    assert server.request("POST", "/interrupt", {"prompt_id": stuck})[0] == 200
    entry = wait_for(lambda: finished(server, stuck), timeout=30)
    assert time.monotonic() - asked < 1 + 2 + 5  # grace + kill + bookkeeping, with room for a slow machine
    assert entry["status"]["status_str"] == "error"
    assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    _, job = server.request("GET", f"/api/jobs/{stuck}")
    assert job["status"] == "cancelled"
    assert wait_for(lambda: finished(server, after), timeout=60)["status"]["status_str"] == "success"


def test_force_stop_kills_at_once_and_the_next_job_runs(server):
    stuck = submit(server, STUCK)
    after = submit(server, SAVE)
    wait_for(lambda: running(server, stuck))
    status, body = server.request("POST", f"/api/impasto/jobs/{stuck}/force-stop")
    assert status == 200 and body["result"] == "stopped"
    entry = finished(server, stuck)
    assert entry is not None and [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    assert wait_for(lambda: finished(server, after), timeout=60)["status"]["status_str"] == "success"
    assert server.request("POST", f"/api/impasto/jobs/{stuck}/force-stop")[1]["result"] == "already_finished"


def test_a_force_stop_racing_the_jobs_own_end_answers_and_records_it(server):
    # The clear interrupts the job cooperatively; the force stop that follows at once can find its worker
    # already done with it. It must answer, and the job must end, every time.
    for attempt in range(12):
        job = submit(server, {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 100000}}})
        wait_for(lambda job=job: running(server, job))
        clear = threading.Thread(
            target=server.request, args=("POST", "/api/impasto/queue/clear", {"include_running": True})
        )
        clear.start()
        time.sleep(attempt * 0.002)  # sweep the moment the force stop arrives across the job's own end
        status, body = server.request("POST", f"/api/impasto/jobs/{job}/force-stop", timeout=20)
        clear.join()
        assert status == 200 and body["result"] in ("stopped", "already_finished")
        assert server.request("GET", f"/api/jobs/{job}")[1]["status"] == "cancelled"
    after = submit(server, SAVE)
    assert wait_for(lambda: finished(server, after), timeout=60)["status"]["status_str"] == "success"


def test_a_cancel_racing_a_short_jobs_own_end_answers_what_happened(server):
    # Each job is cancelled right after its submission, the moment swept across its start and its end: the
    # answer "cancelled" always means it ended cancelled, "already_finished" that it completed.
    wait_for(lambda: [w for w in server.request("GET", "/api/impasto/queue")[1]["workers"] if w["state"] == "idle"])
    for attempt in range(40):
        prompt = json.loads(json.dumps(SAVE))
        prompt["1"]["inputs"]["color"] = attempt  # a fresh prompt each time: a real run, not a cached one
        job = submit(server, prompt)
        time.sleep(attempt * 0.0004)
        body = server.request("POST", f"/api/impasto/jobs/{job}/cancel")[1]
        ended = wait_for(lambda job=job: terminal(server, job))
        assert (body["result"], ended) in (("cancelled", "cancelled"), ("already_finished", "completed")), body


def terminal(server, job_id):
    status = server.request("GET", f"/api/impasto/jobs/{job_id}")[1]["status"]
    return None if status in ("pending", "in_progress") else status


def test_free_empties_an_idle_workers_cache_at_once(server):
    prompt = json.loads(json.dumps(SAVE))
    prompt["1"]["inputs"]["color"] = 0x123456  # a prompt no other test ran

    def executed(prompt_id):
        entry = wait_for(lambda: finished(server, prompt_id), timeout=60)
        cached = dict(entry["status"]["messages"])["execution_cached"]["nodes"]
        return sorted(set(prompt) - set(cached))

    assert executed(submit(server, prompt)) == ["1", "2"]
    assert executed(submit(server, prompt)) == []  # an identical run: all cached
    assert server.request("POST", "/free", {"free_memory": True, "unload_models": True})[0] == 200
    time.sleep(0.5)  # the worker is idle: it frees now, not after its next job
    assert executed(submit(server, prompt)) == ["1", "2"]


@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_a_crashing_node_fails_only_its_job(server, how):
    crash = submit(server, {"1": {"class_type": "Exit", "inputs": {"how": how}}})
    after = submit(server, SAVE)
    entry = wait_for(lambda: finished(server, crash), timeout=60)
    error = dict(entry["status"]["messages"])["execution_error"]
    assert error["exception_type"] == "impasto.WorkerCrashed"
    assert ("exit code 3" if how == "exit" else "signal 11") in error["exception_message"]
    assert wait_for(lambda: finished(server, after), timeout=60)["status"]["status_str"] == "success"


def test_typed_cancel_answers(server):
    stuck = submit(server, STUCK)
    pending = submit(server, SAVE)
    wait_for(lambda: running(server, stuck))
    assert server.request("POST", f"/api/impasto/jobs/{pending}/cancel", {"scope": "running"})[1]["result"] == (
        "not_running"
    )
    removed = server.request("POST", f"/api/impasto/jobs/{pending}/cancel")[1]
    assert removed == {"id": pending, "result": "cancelled", "status": "cancelled"}
    again = server.request("POST", f"/api/impasto/jobs/{pending}/cancel")[1]
    assert again["result"] == "already_finished"
    unknown = str(uuid.uuid4())
    assert server.request("POST", f"/api/impasto/jobs/{unknown}/cancel")[1] == {"id": unknown, "result": "unknown"}
    status, bad = server.request("POST", "/api/impasto/jobs/not-a-uuid/cancel")
    assert status == 400 and bad["error"]["type"] == "invalid_job_id"
    stopping = server.request("POST", f"/api/impasto/jobs/{stuck}/cancel?wait=10")[1]
    assert stopping["result"] == "cancelled" and stopping["status"] == "cancelled"


def test_a_torch_heavy_node_stops_cooperatively_at_a_module_call(server):
    from tests.integration.test_server_process import children_of

    job = submit(server, {"1": {"class_type": "TorchLoop", "inputs": {"calls": 10_000_000}}})
    wait_for(lambda: running(server, job))
    workers = children_of(server.process.pid)
    assert server.request("POST", "/interrupt", {"prompt_id": job})[0] == 200
    entry = wait_for(lambda: finished(server, job), timeout=30)
    assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    assert children_of(server.process.pid) == workers  # the same worker: stopped cooperatively, not killed


def test_a_worker_that_stops_heartbeating_is_replaced_and_its_job_fails(tmp_path):
    stop_nodes.install(tmp_path)
    server = ServerProcess(tmp_path, "--worker-heartbeat-timeout", "2").start()
    try:
        stuck = submit(server, {"1": {"class_type": "HoldsTheLock", "inputs": {"length": 40}}})
        after = submit(server, SAVE)
        entry = wait_for(lambda: finished(server, stuck), timeout=60)
        error = dict(entry["status"]["messages"])["execution_error"]
        assert error["exception_type"] == "impasto.WorkerUnresponsive"
        assert wait_for(lambda: finished(server, after), timeout=60)["status"]["status_str"] == "success"
    finally:
        server.stop()


def pack_server(tmp_path, *args):
    stop_nodes.install(tmp_path)
    return ServerProcess(tmp_path, *args).start()


def test_several_workers_run_jobs_at_the_same_time(tmp_path):
    server = pack_server(tmp_path, "--workers", "2")
    try:
        first, second = submit(server, STUCK), submit(server, STUCK)
        wait_for(lambda: running(server, first) and running(server, second), timeout=60)
        workers = server.request("GET", "/api/impasto/queue")[1]["workers"]
        assert sorted(w["job_id"] for w in workers) == sorted([first, second])
        for job_id in (first, second):
            assert server.request("POST", f"/api/impasto/jobs/{job_id}/force-stop")[1]["result"] == "stopped"
    finally:
        server.stop()


def test_the_job_time_limit_force_stops_a_long_job(tmp_path):
    server = pack_server(tmp_path, "--job-time-limit", "1")
    try:
        stuck = submit(server, STUCK)
        entry = wait_for(lambda: finished(server, stuck), timeout=60)
        assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
        assert server.request("GET", f"/api/impasto/jobs/{stuck}")[1]["stop_reason"] == "time_limit"
    finally:
        server.stop()


@pytest.mark.parametrize(
    "flags",
    [
        ("--worker-recycle-jobs", "2"),  # after every second job
        ("--worker-recycle-rss", "1"),  # 1 MB: every worker is above it after any job
    ],
    ids=["after-n-jobs", "above-rss"],
)
def test_workers_are_recycled_between_jobs(tmp_path, flags):
    server = pack_server(tmp_path, *flags)
    try:
        ids = []
        for color in range(5):
            prompt = json.loads(json.dumps(SAVE))
            prompt["1"]["inputs"]["color"] = color
            ids.append(submit(server, prompt))
        for prompt_id in ids:
            assert wait_for(lambda p=prompt_id: finished(server, p), timeout=60)["status"]["status_str"] == "success"
        workers = wait_for(
            lambda: [w for w in server.request("GET", "/api/impasto/queue")[1]["workers"] if w["restarts"] >= 2]
        )
        assert workers
    finally:
        server.stop()
