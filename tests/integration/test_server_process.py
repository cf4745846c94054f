"""The real server process: subprocess workers, a torch-free server, and a queue that survives SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow

SAVE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ComfyUI"}},
}
# Long enough on any machine to still be running when the server is killed.
HEAVY = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 4096, "height": 4096, "batch_size": 8, "color": 0}},
    "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 31, "sigma": 1.0}},
    "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
}

REPORT_MODULES = """
import signal, sys
from pathlib import Path
from impasto.cli import main
out = Path(sys.argv[1])
def report(_signum, _frame):
    out.write_text("\\n".join(sorted(sys.modules)))
signal.signal(signal.SIGUSR1, report)
raise SystemExit(main(sys.argv[2:]))
"""


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met")


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def finished(server: ServerProcess, prompt_id: str):
    status, body = server.request("GET", f"/history/{prompt_id}")
    return body.get(prompt_id) if status == 200 else None


def test_the_server_runs_jobs_in_workers_and_never_imports_torch(tmp_path):
    report = tmp_path / "modules.txt"
    port_server = ServerProcess(tmp_path / "base")
    command = [sys.executable, "-c", REPORT_MODULES, str(report), "--base-directory", str(port_server.base)]
    command += ["--port", str(port_server.port)]
    port_server.base.mkdir(parents=True)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_server.process = process
    try:
        port_server.wait_ready(60)
        status, body = port_server.request("POST", "/prompt", {"prompt": SAVE})
        assert status == 200
        entry = wait_for(lambda: finished(port_server, body["prompt_id"]))
        assert entry["status"]["status_str"] == "success"
        assert (port_server.base / "output" / "ComfyUI_00001_.png").is_file()
        workers = children_of(process.pid)
        assert len(workers) >= 2  # the node host and one worker
        os.kill(process.pid, signal.SIGUSR1)
        modules = wait_for(lambda: report.exists() and report.read_text().splitlines())
        assert "aiohttp" in modules and "impasto.server.app" in modules
        assert not [m for m in modules if m.split(".")[0] in ("torch", "numpy")]
        assert not [m for m in modules if m.startswith("impasto.nodes") or m.startswith("impasto.engine.runner")]
    finally:
        port_server.stop()


def test_a_killed_server_keeps_its_queue_and_records_the_running_job(tmp_path):
    server = ServerProcess(tmp_path / "base").start()
    try:
        status, heavy = server.request("POST", "/prompt", {"prompt": HEAVY, "client_id": "c1"})
        assert status == 200
        pending = []
        for value in range(3):
            prompt = {
                "1": {"class_type": "PrimitiveInt", "inputs": {"value": value}},
                "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
            }
            status, body = server.request("POST", "/prompt", {"prompt": prompt})
            pending.append(body["prompt_id"])
        wait_for(lambda: server.request("GET", "/queue")[1]["queue_running"])
        assert server.process is not None
        children = children_of(server.process.pid)
        server.kill()
        # Workers and the node host go with the server.
        wait_for(lambda: not [pid for pid in children if alive(pid)], timeout=30)
    finally:
        server.kill()

    restarted = ServerProcess(server.base, port=server.port)
    restarted.start()
    try:
        interrupted = wait_for(lambda: finished(restarted, heavy["prompt_id"]))
        assert interrupted["status"]["status_str"] == "error"
        assert [m[0] for m in interrupted["status"]["messages"]][-1] == "execution_interrupted"
        _, job = restarted.request("GET", f"/api/jobs/{heavy['prompt_id']}")
        assert job["status"] == "cancelled"
        for prompt_id in pending:
            entry = wait_for(lambda prompt_id=prompt_id: finished(restarted, prompt_id))
            assert entry["status"]["status_str"] == "success"
        history = restarted.request("GET", "/history")[1]
        assert list(history)[-3:] == pending  # ran in their original order
        _, body = restarted.request("POST", "/prompt", {"prompt": SAVE})
        assert body["number"] > 3  # the counter continued
    finally:
        restarted.stop()


def test_an_interrupt_reaches_the_job_in_its_worker_process(tmp_path):
    chain = {"1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 4, "color": 0}}}
    for i in range(2, 60):
        chain[str(i)] = {
            "class_type": "ImageBlur",
            "inputs": {"image": [str(i - 1), 0], "blur_radius": 15, "sigma": 1.0},
        }
    chain["out"] = {"class_type": "PreviewImage", "inputs": {"images": ["59", 0]}}
    server = ServerProcess(tmp_path / "base").start()
    try:
        _, running = server.request("POST", "/prompt", {"prompt": chain})
        _, after = server.request("POST", "/prompt", {"prompt": SAVE})
        wait_for(lambda: server.request("GET", "/queue")[1]["queue_running"])
        assert server.request("POST", "/interrupt", {"prompt_id": running["prompt_id"]})[0] == 200
        entry = wait_for(lambda: finished(server, running["prompt_id"]))
        assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
        assert wait_for(lambda: finished(server, after["prompt_id"]))["status"]["status_str"] == "success"
    finally:
        server.stop()


def test_pause_and_order_survive_a_restart(tmp_path):
    server = ServerProcess(tmp_path / "base").start()
    try:
        assert server.request("POST", "/api/impasto/queue/pause")[1]["paused"] is True
        ids = [server.request("POST", "/prompt", {"prompt": save_variant(i)})[1]["prompt_id"] for i in range(3)]
        assert server.request("POST", f"/api/impasto/jobs/{ids[2]}/move", {"to": "front"})[0] == 200
    finally:
        server.kill()
    restarted = ServerProcess(server.base, port=server.port).start()
    try:
        queue = restarted.request("GET", "/queue")[1]
        assert [item[1] for item in queue["queue_pending"]] == [ids[2], ids[0], ids[1]]
        assert restarted.request("GET", "/api/impasto/queue")[1]["paused"] is True
        restarted.request("POST", "/api/impasto/queue/resume")
        for prompt_id in ids:
            assert wait_for(lambda p=prompt_id: finished(restarted, p))["status"]["status_str"] == "success"
        order = list(restarted.request("GET", "/history")[1])
        assert order == [ids[2], ids[0], ids[1]]
    finally:
        restarted.stop()
    paused_start = ServerProcess(server.base, "--startup-queue-state", "run", port=server.port).start()
    try:
        assert paused_start.request("GET", "/api/impasto/queue")[1]["paused"] is False
    finally:
        paused_start.stop()


def test_the_users_impasto_settings_set_the_start_up_state_and_the_interrupt_grace(tmp_path):
    from tests.support import stop_nodes

    base = tmp_path / "base"
    stop_nodes.install(base)
    server = ServerProcess(base, "--interrupt-grace", "60").start()
    try:
        assert server.request("POST", "/api/settings/impasto.Queue.StartupState", "paused")[0] == 200
        assert server.request("POST", "/api/settings/impasto.Queue.InterruptGraceSeconds", 0.2)[0] == 200
        prompt = {"1": {"class_type": "Stuck", "inputs": {"seconds": 120.0}}}
        stuck = server.request("POST", "/prompt", {"prompt": prompt})[1]
        assert "prompt_id" in stuck, stuck
        wait_for(lambda: server.request("GET", "/api/impasto/queue")[1]["running"])
        assert server.request("POST", "/interrupt", {"prompt_id": stuck["prompt_id"]})[0] == 200
        entry = wait_for(lambda: finished(server, stuck["prompt_id"]), timeout=20)  # not the flag's 60 s
        assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    finally:
        server.stop()
    restarted = ServerProcess(base, port=server.port).start()
    try:
        assert restarted.request("GET", "/api/impasto/queue")[1]["paused"] is True
    finally:
        restarted.stop()


def save_variant(color: int) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "order"}},
    }


def test_quick_test_for_ci_starts_loads_the_nodes_and_exits(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "impasto", "--base-directory", str(tmp_path), "--port", "0", "--quick-test-for-ci"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "user" / "impasto" / "catalog.json").is_file()
