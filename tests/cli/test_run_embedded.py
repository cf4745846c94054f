"""`impasto run` without --server: an embedded server and worker for the run, reachable only through a unix
socket in a private folder, and nothing of them left after the command exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import SAVE, progress, wait_for
from tests.integration.test_server_process import alive, children_of
from tests.support import stop_nodes

pytestmark = pytest.mark.slow


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def unix_paths(inodes: set[str]) -> set[str]:
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes:
            paths.add(fields[7])
    return paths


def test_a_run_without_server_serves_on_a_unix_socket_and_leaves_nothing_behind(tmp_path):
    base, private = tmp_path / "base", tmp_path / "tmp"
    private.mkdir()
    stop_nodes.install(base)
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps({**SAVE, "9": progress(150)["1"]}))  # about 1.5 s of progress reports
    command = [sys.executable, "-m", "impasto", "run", str(workflow), "--base-directory", str(base), "--json"]
    env = {**os.environ, "TMPDIR": str(private), "HF_HUB_OFFLINE": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        sockets = wait_for(
            lambda: unix_paths(socket_inodes(process.pid)) & {str(p) for p in private.glob("*/api.sock")}
        )
        helpers = children_of(process.pid)
        assert len(helpers) >= 2  # the node host and the worker
        assert not socket_inodes(process.pid) & listening_tcp_inodes()  # no TCP port, not even on loopback
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    (job,) = json.loads(out)["jobs"]
    assert job["status"] == "completed"
    (saved,) = job["files"]
    assert Path(saved["path"]) == base / "output" / saved["filename"] and Path(saved["path"]).is_file()
    assert sockets and not any(private.iterdir())  # the socket's folder is gone
    wait_for(lambda: not [pid for pid in helpers if alive(pid)], timeout=10)  # the resource tracker follows


def test_an_embedded_run_with_a_bad_workflow_starts_nothing(tmp_path):
    (tmp_path / "wf.json").write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "impasto", "run", str(tmp_path / "wf.json"), "--base-directory", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "neither an API prompt" in done.stderr
    assert not (tmp_path / "output").exists()
