"""The README's installation check, as written: a random tiny checkpoint from `impasto.models.random_checkpoint`,
then the shipped SD1.5 example workflow run headless with `impasto --workflow`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "impasto" / "examples" / "sd15_txt2img.json"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_example_workflow_runs_on_a_random_checkpoint(tmp_path):
    made = run("impasto.models.random_checkpoint", "models/checkpoints/random_tiny.safetensors", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "models" / "checkpoints" / "random_tiny.safetensors").is_file()
    done = run("impasto", "--base-directory", str(tmp_path), "--cpu", "--workflow", str(EXAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("node 9: ")]
    saved = Path(line.removeprefix("node 9: "))
    assert saved.parent == tmp_path / "output" and saved.name.startswith("impasto_sd15_")
    with Image.open(saved) as image:
        assert image.size == (512, 512)
