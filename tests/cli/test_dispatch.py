"""The subcommands sit beside the server command: `impasto` with ComfyUI's flags and `impasto --workflow FILE`
behave as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from impasto.cli import SUBCOMMANDS, main
from tests.support.server_process import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "impasto" / "examples" / "invert.json"


def test_server_flags_still_start_the_server(tmp_path):
    flags = ["--port", str(free_port()), "--listen", "127.0.0.1", "--base-directory", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "impasto", *flags, "--quick-test-for-ci"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "impasto listening on http://127.0.0.1:" in done.stderr


def test_workflow_flag_still_runs_headless(tmp_path, capsys):
    assert main(["--workflow", str(EXAMPLE), "--base-directory", str(tmp_path)]) == 0
    written = Path(capsys.readouterr().out.split(": ", 1)[1].strip())
    assert written.parent == tmp_path / "output" and written.is_file()


def test_subcommand_help_and_usage_errors(capsys):
    assert {"run", "queue", "interrupt", "history", "watch"} == SUBCOMMANDS
    with pytest.raises(SystemExit) as caught:
        main(["queue", "move", "x"])  # needs --front, --back or --before
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["run", "--help"])
    assert caught.value.code == 0 and "--batch N" in capsys.readouterr().out
