"""`impasto run WORKFLOW --server URL` against a real server: formats, batches, seeds, overrides, outputs,
exit codes and the errors a wrong file or a wrong override gets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.cli.conftest import FAIL, SAVE, idle, submit, wait_for
from tests.support.server_process import free_port

pytestmark = pytest.mark.slow

WORKFLOWS = Path(__file__).resolve().parent.parent / "support" / "ui_workflows"


@pytest.fixture(autouse=True)
def clean_queue(server):
    idle(server)
    yield
    idle(server)


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def history_prompt(server, prompt_id: str) -> dict:
    return server.request("GET", f"/history/{prompt_id}")[1][prompt_id]["prompt"][2]


def test_an_api_prompt_runs_and_its_files_are_listed_and_copied(cli, server, tmp_path):
    result = cli("run", str(write(tmp_path / "save.json", SAVE)), "--output", str(tmp_path / "copies"))
    assert result.code == 0, result.err
    copied = Path(result.out.strip())
    assert copied.parent == tmp_path / "copies" and copied.name.startswith("cli_")
    assert copied.read_bytes() == (server.base / "output" / copied.name).read_bytes()
    assert "job completed in" in result.err
    again = cli("run", str(tmp_path / "save.json"), "--batch", "2", "--json", "--output", str(tmp_path / "twice"))
    jobs = json.loads(again.out)["jobs"]  # the second job is served from the cache: the same file, copied once
    assert jobs[0]["files"][0]["copied_to"] == jobs[1]["files"][0]["copied_to"]
    assert len(list((tmp_path / "twice").iterdir())) == 1


def test_a_ui_workflow_batch_counts_seeds_up_and_each_image_carries_its_own(cli, server, tmp_path):
    workflow = WORKFLOWS / "virtual_nodes.json"
    result = cli("run", str(workflow), "--batch", "3", "--seed", "increment", "--json")
    assert result.code == 0, result.err
    jobs = json.loads(result.out)["jobs"]
    assert [job["status"] for job in jobs] == ["completed"] * 3
    assert [job["values"]["1.seed"] for job in jobs] == [1234, 1235, 1236]
    assert [job["values"]["10.seed"] for job in jobs] == [77, 78, 79]
    saved = next(f for f in jobs[2]["files"] if f["type"] == "output")
    assert saved["filename"].startswith("cli_primitive_")
    with Image.open(server.base / "output" / saved["filename"]) as image:
        embedded = json.loads(image.info["workflow"])
    seeded = next(node for node in embedded["nodes"] if node["id"] == 1)
    assert seeded["widgets_values_named"]["seed"] == 1236


def test_without_seed_a_ui_workflow_uses_the_modes_it_saved(cli, tmp_path):
    jobs = json.loads(cli("run", str(WORKFLOWS / "virtual_nodes.json"), "--batch", "2", "--json").out)["jobs"]
    assert [job["values"]["1.seed"] for job in jobs] == [1234, 1235]  # saved "increment"
    assert jobs[0]["values"]["10.seed"] == 77 and jobs[1]["values"]["10.seed"] != 77  # the primitive's "randomize"
    fixed = json.loads(cli("run", str(WORKFLOWS / "virtual_nodes.json"), "--seed", "500", "--json").out)["jobs"]
    assert fixed[0]["values"] == {"1.seed": 500, "10.seed": 500}


def test_set_overrides_an_input_by_node_id_or_title(cli, server):
    result = cli(
        "run", str(WORKFLOWS / "invert.json"), "--set", "Soften.blur_radius=3", "--set", "4.filename_prefix=001",
        "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    prompt = history_prompt(server, json.loads(result.out)["jobs"][0]["prompt_id"])
    assert prompt["3"]["inputs"]["blur_radius"] == 3
    assert prompt["4"]["inputs"]["filename_prefix"] == "001"  # a STRING input keeps the text


def test_an_image_saved_by_save_image_runs_again(cli, server, tmp_path):
    first = json.loads(cli("run", str(WORKFLOWS / "invert.json"), "--json").out)["jobs"][0]
    png = server.base / "output" / first["files"][0]["filename"]
    again = cli("run", str(png), "--json")
    assert again.code == 0, again.err
    assert history_prompt(server, json.loads(again.out)["jobs"][0]["prompt_id"])["3"]["inputs"]["sigma"] == 1.5


def test_a_webp_with_exif_metadata_runs(cli, tmp_path):
    image = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(SAVE)
    exif[0x010F] = "workflow:" + (WORKFLOWS / "invert.json").read_text()
    image.save(tmp_path / "run.webp", "WEBP", exif=exif.tobytes())
    result = cli("run", str(tmp_path / "run.webp"), "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["jobs"][0]["files"][0]["filename"].startswith("cli_")


def test_a_failing_job_exits_1_and_names_the_node(cli, tmp_path):
    plain = cli("run", str(write(tmp_path / "fail.json", FAIL)))
    assert plain.code == 1
    assert "failed" in plain.err and "node 1 (ImpastoIntMath)" in plain.err


def test_quiet_prints_nothing_and_json_reports_the_error(cli, tmp_path):
    quiet = cli("run", str(write(tmp_path / "save.json", SAVE)), "--quiet")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    report = json.loads(cli("run", str(write(tmp_path / "fail.json", FAIL)), "--json").out)
    assert report["exit_code"] == 1 and report["jobs"][0]["status"] == "failed"
    assert report["jobs"][0]["error"]["node_type"] == "ImpastoIntMath"


def test_front_jobs_run_before_waiting_ones_in_batch_order(server, tmp_path):
    server.request("POST", "/api/impasto/queue/pause")
    earlier = submit(server, SAVE)
    command = [sys.executable, "-m", "impasto", "run", str(WORKFLOWS / "invert.json"), "--batch", "2"]
    command += ["--front", "--json", "--server", server.url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        queue = wait_for(lambda: (q := server.request("GET", "/api/impasto/queue")[1])["pending_total"] == 3 and q)
        server.request("POST", "/api/impasto/queue/resume")
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    jobs = {job["prompt_id"]: job["index"] for job in json.loads(out)["jobs"]}
    order = [entry["id"] for entry in queue["pending"]]
    assert [jobs.get(job_id) for job_id in order] == [0, 1, None] and order[2] == earlier


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json, not an image", "is neither JSON nor a PNG or WebP image"),
        (b'{"a": 1}', "neither an API prompt"),
        (b"\x89PNG\r\n\x1a\n", "carries no prompt or workflow"),
    ],
)
def test_files_that_hold_no_workflow_are_refused(cli, tmp_path, content, message):
    (tmp_path / "wf").write_bytes(content)
    result = cli("run", str(tmp_path / "wf"))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


def test_a_png_without_metadata_is_refused(cli, tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png", pnginfo=PngInfo())
    result = cli("run", str(tmp_path / "plain.png"))
    assert result.code == 2 and "the PNG carries no prompt or workflow in its metadata" in result.err


def test_bad_input_is_a_usage_error_with_a_reason(cli, tmp_path):
    cases = {
        (
            "run",
            str(WORKFLOWS / "missing_nodes.json"),
        ): "the server has no node type UltraSharpUpscaler, FaceDetailerPro",
        ("run", str(tmp_path / "absent.json")): "cannot read",
        ("run", str(WORKFLOWS / "invert.json"), "--set", "Nope.width=1"): "no node with id or title 'Nope'",
        ("run", str(WORKFLOWS / "invert.json"), "--set", "1.depth=1"): "has no input 'depth'",
        ("run", str(WORKFLOWS / "invert.json"), "--set", "width"): "wants NODE.INPUT=VALUE",
        ("run", str(WORKFLOWS / "invert.json"), "--seed", "sideways"): "--seed must be one of",
        ("run", str(WORKFLOWS / "invert.json"), "--batch", "0"): "--batch must be at least 1",
    }
    for argv, message in cases.items():
        result = cli(*argv)
        assert result.code == 2 and message in result.err, (argv, result.err)


def test_validation_errors_are_listed_per_node_with_input_and_value(cli):
    result = cli("run", str(WORKFLOWS / "invert.json"), "--set", "Soften.sigma=-5", "--set", "1.width=0")
    assert result.code == 2
    lines = [line.strip() for line in result.err.splitlines()]
    assert "node 3 (ImageBlur 'Soften'):" in lines
    assert "sigma: Value -5.0 smaller than min of 0.1 (received -5.0)" in lines
    assert "width: Value 0 smaller than min of 1 (received 0)" in lines


def test_an_unreachable_server_is_exit_2(cli):
    result = cli("run", str(WORKFLOWS / "invert.json"), "--server", f"127.0.0.1:{free_port()}", server_flag=False)
    assert result.code == 2 and "cannot reach the server" in result.err and "Traceback" not in result.err
