"""Finding the GPUs for the workers without torch (one worker per visible GPU by default)."""

from __future__ import annotations

from pathlib import Path

from impasto.cli.flags import build_parser, settings_from_args
from impasto.workers.gpus import visible_gpus


def dev_with(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_text("")
    return tmp_path


def test_nvidia_device_files_are_the_gpus(tmp_path):
    dev = dev_with(tmp_path, "nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "null")
    assert visible_gpus(dev, {}) == ["0", "1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert visible_gpus(empty, {}) == []


def test_cuda_visible_devices_narrows_them_as_cuda_does(tmp_path):
    dev = dev_with(tmp_path, "nvidia0", "nvidia1")
    assert visible_gpus(dev, {"CUDA_VISIBLE_DEVICES": "1"}) == ["1"]
    assert visible_gpus(dev, {"CUDA_VISIBLE_DEVICES": "GPU-abc,0"}) == ["GPU-abc", "0"]
    assert visible_gpus(dev, {"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == ["0"]
    for nothing in ["", "-1"]:
        assert visible_gpus(dev, {"CUDA_VISIBLE_DEVICES": nothing}) == []
    assert visible_gpus(tmp_path / "missing", {"CUDA_VISIBLE_DEVICES": "0"}) == []


def test_the_worker_count_defaults_to_one_on_the_cpu(tmp_path):
    def workers(*flags: str) -> int:
        return settings_from_args(build_parser().parse_args(["--base-directory", str(tmp_path), *flags])).workers

    assert workers("--cpu") == 1
    assert workers("--workers", "3") == 3
    assert workers() >= 1
