"""`impasto queue ...`, `impasto interrupt` and `impasto history` against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial

import pytest

from tests.cli.conftest import FAIL, SAVE, STUCK, executing, finished, idle, job, progress, running, submit, wait_for
from tests.support.server_process import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def clean_queue(server):
    idle(server)
    yield
    idle(server)


def test_ls_lists_the_running_job_and_pending_jobs_in_run_order(cli, server):
    ticker = submit(server, progress())
    wait_for(lambda: executing(server, ticker))
    assert cli("queue", "pause").code == 0
    first, second = submit(server, SAVE), submit(server, SAVE)
    result = cli("queue", "ls", "--json")
    assert result.code == 0
    body = json.loads(result.out)
    assert body["paused"] is True
    assert [entry["id"] for entry in body["running"]] == [ticker]
    assert [entry["id"] for entry in body["pending"]] == [first, second]
    table = cli("queue", "ls")
    assert table.code == 0 and "paused" in table.out
    assert ticker in table.out and first in table.out and "Ticker (#1)" in table.out


def test_pause_resume_and_move(cli, server):
    assert "is now paused" in cli("queue", "pause").out
    assert "was already paused" in cli("queue", "pause").out
    a, b, c = (submit(server, SAVE) for _ in range(3))
    assert "at position 1" in cli("queue", "move", c, "--front").out
    assert cli("queue", "move", a, "--before", c, "--json").code == 0
    assert cli("queue", "move", b, "--back").code == 0
    order = [entry["id"] for entry in json.loads(cli("queue", "ls", "--json").out)["pending"]]
    assert order == [a, c, b]
    missing = cli("queue", "move", "00000000-0000-4000-8000-000000000000", "--front")
    assert missing.code == 1 and "job not found" in missing.err
    assert "is now running" in cli("queue", "resume").out
    for job_id in (a, b, c):
        assert wait_for(partial(finished, server, job_id))["status"] == "completed"


def test_rm_removes_pending_jobs_only_and_says_why_not(cli, server):
    ticker = submit(server, progress())
    wait_for(lambda: running(server, ticker))
    cli("queue", "pause")
    waiting = submit(server, SAVE)
    unknown = "00000000-0000-4000-8000-000000000001"
    result = cli("queue", "rm", waiting, ticker, unknown)
    assert result.code == 1
    lines = dict(line.split(": ", 1) for line in result.out.strip().splitlines())
    assert lines == {waiting: "removed", ticker: "not pending (in_progress)", unknown: "unknown"}
    assert job(server, waiting)["stop_reason"] == "removed" and running(server, ticker)
    bad = cli("queue", "rm", "not-a-uuid")
    assert bad.code == 2 and "canonical lowercase UUIDs" in bad.err


def test_cancel_interrupts_a_running_job_and_removes_a_pending_one(cli, server):
    ticker = submit(server, progress())
    wait_for(lambda: executing(server, ticker))
    cli("queue", "pause")
    waiting = submit(server, SAVE)
    assert cli("queue", "cancel", waiting).out.strip() == f"{waiting}: cancelled (now cancelled)"
    result = cli("queue", "cancel", ticker, "--wait", "20", "--json")
    assert result.code == 0 and json.loads(result.out) == {"id": ticker, "result": "cancelled", "status": "cancelled"}
    assert job(server, ticker)["stop_reason"] == "interrupted"
    again = cli("queue", "cancel", ticker)
    assert again.code == 1 and "already_finished" in again.out


def test_clear_removes_pending_jobs_and_with_running_interrupts_too(cli, server):
    ticker = submit(server, progress())
    wait_for(lambda: executing(server, ticker))
    cli("queue", "pause")
    pending = [submit(server, SAVE) for _ in range(3)]
    assert cli("queue", "clear").out.strip() == "removed 3 pending job(s)"
    assert all(job(server, job_id)["status"] == "cancelled" for job_id in pending) and running(server, ticker)
    body = json.loads(cli("queue", "clear", "--running", "--json").out)
    assert body["removed"] == 0 and body["interrupted"] == 1
    assert wait_for(lambda: finished(server, ticker))["stop_reason"] == "interrupted"


def test_interrupt_asks_and_force_kills(cli, server):
    assert cli("interrupt").out.strip() == "nothing is running"
    ticker = submit(server, progress())
    wait_for(lambda: executing(server, ticker))
    assert cli("interrupt").out.strip() == f"{ticker}: interrupting"
    assert wait_for(lambda: finished(server, ticker))["stop_reason"] == "interrupted"
    stuck = submit(server, STUCK)
    wait_for(lambda: executing(server, stuck))
    assert cli("interrupt", stuck).code == 0  # a Stuck node never checks in: the grace period (30 s) runs
    assert job(server, stuck)["status"] == "in_progress"
    result = cli("interrupt", "--force", "--json")
    assert result.code == 0 and json.loads(result.out) == {"jobs": {stuck: "stopped"}}
    assert job(server, stuck)["stop_reason"] == "force_stopped"


def test_show_and_history(cli, server):
    done = submit(server, SAVE)
    wait_for(lambda: finished(server, done))
    failed = submit(server, FAIL)
    wait_for(lambda: finished(server, failed))
    shown = cli("queue", "show", done)
    assert shown.code == 0 and "completed" in shown.out and "output/cli_" in shown.out
    details = json.loads(cli("queue", "show", failed, "--json").out)
    assert details["status"] == "failed" and details["execution_error"]["node_type"] == "ImpastoIntMath"
    assert cli("queue", "show", "00000000-0000-4000-8000-000000000002").code == 1
    listed = json.loads(cli("history", "--limit", "5", "--status", "failed", "--json").out)
    assert listed["jobs"][0]["id"] == failed
    assert {entry["status"] for entry in listed["jobs"]} == {"failed"}
    table = cli("history", "--limit", "2")
    assert table.code == 0 and failed in table.out and done in table.out and "failed" in table.out


def test_an_unreachable_server_is_a_clear_usage_error(cli):
    result = cli("queue", "ls", "--server", f"127.0.0.1:{free_port()}", server_flag=False)
    assert result.code == 2
    assert "cannot reach the server at http://127.0.0.1:" in result.err and "Traceback" not in result.err
    assert cli("history", "--limit", "0").code == 2
    assert cli("queue", "ls", "--server", "ftp://x", server_flag=False).code == 2


@pytest.mark.parametrize("command", ["queue ls --json", "run {workflow} --quiet", "history --limit 1"])
def test_the_commands_do_not_import_torch(server, tmp_path, command):
    workflow = tmp_path / "save.json"
    workflow.write_text(json.dumps(SAVE))
    argv = [*command.format(workflow=workflow).split(), "--server", server.url]
    code = (
        "import sys\n"
        "from impasto.cli import main\n"
        f"code = main({argv!r})\n"
        "print(code, sorted(m for m in ('torch', 'numpy') if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "0 []"
