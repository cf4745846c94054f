"""`python -m bench` against real impasto servers: every figure, the JSON file, two servers in turn, and the
ways a run goes wrong (nothing listening, a node missing, the server killed mid-run)."""

from __future__ import annotations

import io
import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bench.harness import cli, report
from bench.harness.context import Plan
from bench.harness.figures import catalog
from bench.harness.runner import Results
from bench.harness.target import TargetSpec

from tests.support import stop_nodes
from tests.support.server_process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
QUICK_LEVELS = (200,)


def harness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def figures_of(path: Path) -> dict[str, dict]:
    return {figure["key"]: figure for figure in json.loads(path.read_text())["figures"]}


def assert_sane(result: dict, rounds: int, where: object = "") -> None:
    """A measured figure: samples, all non-negative, the median between the minimum and the maximum."""
    assert result["skipped"] is None, (where, result)
    assert result["n"] == len(result["samples"]) >= rounds, where
    assert all(sample >= 0 for sample in result["samples"]), where
    assert result["min"] <= result["median"] <= result["max"], where
    assert result["min"] == min(result["samples"]) and result["max"] == max(result["samples"]), where


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_of_a_started_impasto_produces_every_figure(tmp_path):
    base = tmp_path / "base"
    stop_nodes.install(base)
    command = (
        f"{shlex.quote(sys.executable)} -m impasto --base-directory {base} --data-dir {{dir}} --port {{port}}"
        " --interrupt-grace 1"
    )
    out = tmp_path / "results.json"
    done = harness("--quick", "--cmd", command, "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert not (base / "user" / "impasto" / "queue.db").exists()  # each start kept its store in a fresh {dir}
    data = json.loads(out.read_text())
    assert data["complete"] and data["rounds_done"] == 3 and data["servers"][0]["gone"] is None
    figures = figures_of(out)
    assert list(figures) == [figure.key for figure in catalog(QUICK_LEVELS)]
    for key, figure in figures.items():
        assert_sane(figure["results"]["A"], rounds=3, where=key)
    assert figures["startup"]["results"]["A"]["n"] == 3  # one start per round
    assert figures["roundtrip"]["results"]["A"]["n"] == 3 * 5
    assert figures["post_200"]["results"]["A"]["n"] == 3 * 5
    assert figures["interrupt_progress"]["results"]["A"]["notes"] == ["node TenMsProgress"]
    assert figures["interrupt_sync"]["results"]["A"]["notes"] == ["node Stuck"]
    # A node that never checks in is stopped by killing its worker after the 1 s grace period.
    assert figures["interrupt_sync"]["results"]["A"]["min"] >= 1000
    assert figures["rss_idle_tree"]["results"]["A"]["median"] > figures["rss_idle"]["results"]["A"]["median"]
    for listed in catalog(QUICK_LEVELS):
        assert listed.title in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_vs_measures_two_servers_in_turn_and_reports_a_ratio_per_figure(tmp_path):
    """The portable pack (bench_nodes.py) on impasto, with the queue held by a job as on ComfyUI."""
    base = tmp_path / "base"
    (base / "custom_nodes").mkdir(parents=True)
    assert cli.main(["--install-nodes", str(base / "custom_nodes")]) == 0
    server = ServerProcess(base, "--interrupt-grace", "1").start()
    out = tmp_path / "vs.json"
    try:
        done = harness(
            "--quick", "--repeats", "2", "--hold", "job", "--url", server.url, "--vs", server.url, "--json", str(out),
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    starts = [line.split(": ")[1].split(",")[1].strip() for line in done.stderr.splitlines() if "starting" in line]
    assert starts == ["A", "B", "A", "B"]
    figures = figures_of(out)
    startup = figures.pop("startup")
    assert startup["results"]["B"]["skipped"] == "the server was already running (--url)" and startup["ratio"] is None
    for key, figure in figures.items():
        for label in ("A", "B"):
            assert_sane(figure["results"][label], rounds=2, where=(key, label))
        assert figure["ratio"] is not None and figure["ratio"] > 0, key
    assert figures["interrupt_progress"]["results"]["B"]["notes"] == ["node BenchProgress"]
    assert figures["interrupt_sync"]["results"]["B"]["notes"] == ["node BenchBusy"]
    assert figures["post_200"]["results"]["A"]["notes"] == ["queued behind a long-running job (BenchProgress)"]
    assert "A/B" in done.stdout


def test_an_unreachable_url_exits_2_with_a_clear_message(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["--url", url, "--quick"]) == 2
    error = capsys.readouterr().err
    assert f"cannot reach {url}" in error and "Traceback" not in error


def test_a_command_that_exits_at_once_exits_2_and_shows_its_output(capsys):
    assert cli.main(["--cmd", "echo no model here {port}; exit 7", "--quick"]) == 2
    error = capsys.readouterr().err
    assert "exited with 7" in error and "no model here" in error and "Traceback" not in error


@pytest.mark.parametrize(
    "args",
    [[], ["--cmd", "python -m impasto --port 8188"], ["--url", "localhost:8188"], ["--url", "http://x", "--only", "y"]],
)
def test_bad_arguments_exit_2(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(args)
    assert stopped.value.code == 2
    assert "bench: error:" in capsys.readouterr().err


@pytest.mark.slow
def test_a_server_without_the_long_nodes_skips_those_figures_with_the_reason(tmp_path):
    server = ServerProcess(tmp_path / "base").start()
    out = tmp_path / "plain.json"
    try:
        done = harness(
            "--quick", "--repeats", "1", "--only", "pending,interrupt", "--hold", "job", "--url", server.url,
            "--json", str(out),
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    figures = figures_of(out)
    assert figures["interrupt_progress"]["results"]["A"]["skipped"] == (
        "the server has no long node with progress (BenchProgress or TenMsProgress)"
    )
    assert figures["interrupt_sync"]["results"]["A"]["skipped"] == (
        "the server has no long node without progress (BenchBusy or Stuck)"
    )
    assert "cannot hold the queue" in figures["post_200"]["results"]["A"]["skipped"]
    assert "skipped: the server has no long node with progress" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_server_killed_mid_run_ends_with_3_and_keeps_what_was_measured(tmp_path):
    server = ServerProcess(tmp_path / "base").start()
    out = tmp_path / "partial.json"
    run = subprocess.Popen(
        [sys.executable, "-m", "bench", "--quick", "--url", server.url, "--json", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.stderr is not None
        progress = []
        for line in run.stderr:  # the round trips are done once the burst starts
            progress.append(line)
            if "round 1/3, A: burst" in line:
                break
        else:
            pytest.fail("".join(progress))
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=180)
    finally:
        run.kill()
        server.stop()
    assert run.returncode == 3, stderr
    # Killed during the burst or a later step of round 1, depending on how far the harness got meanwhile.
    assert "stopped answering during" in stderr and "in round 1" in stderr and "the results so far are kept" in stderr
    assert "Traceback" not in stderr
    figures = figures_of(out)
    assert_sane(figures["roundtrip"]["results"]["A"], rounds=1)
    assert figures["roundtrip"]["results"]["A"]["notes"][0].startswith("later rounds missing: the server stopped")
    assert "stopped answering during" in figures["interrupt_progress"]["results"]["A"]["skipped"]
    assert json.loads(out.read_text())["complete"] is False
    assert "distinct tiny prompt: POST → executing null" in stdout


def test_the_harness_imports_nothing_of_impasto():
    """It has to measure ComfyUI with the same code, so it may speak only the public API."""
    code = "import sys, bench.harness.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'impasto'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_without_rich_the_table_is_plain_text(monkeypatch):
    for name in ("rich", "rich.console", "rich.table"):
        monkeypatch.setitem(sys.modules, name, None)  # `import rich...` now raises ImportError
    plan = Plan.quick(frozenset({"roundtrip", "startup"}))
    results = Results.empty(plan, [TargetSpec("A", url="http://a"), TargetSpec("B", cmd="serve {port}")])
    results.outcomes["A"]["roundtrip"].samples.extend([4.0, 2.0, 9.0])
    results.outcomes["B"]["roundtrip"].samples.extend([8.0, 8.0])
    results.outcomes["A"]["startup"].skip("the server was already running (--url)")
    results.outcomes["B"]["startup"].samples.append(1.5)
    stream = io.StringIO()
    report.print_table(results, stream)
    lines = stream.getvalue().splitlines()
    assert "│" not in stream.getvalue()  # no rich box drawing
    assert lines[1].split() == ["figure", "unit", "A:", "median", "(min-max)", "B:", "median", "(min-max)", "A/B"]
    row = next(line for line in lines if line.startswith("distinct tiny prompt"))
    assert row.split()[-6:] == ["ms", "4.00", "(2.00-9.00)", "8.00", "(8.00-8.00)", "0.50"]
    assert "A startup skipped: the server was already running (--url)" in lines
    assert "B = --cmd serve {port}" in lines
    assert report.as_json(results)["figures"][1]["ratio"] == 0.5
