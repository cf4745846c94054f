"""`comfy.utils` helpers and `comfy.model_management` devices (node-api.md §4.8), and the import hook."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest
import torch

from impasto.compat import runtime
from impasto.compat.shims.comfy import model_management, utils


def write_safetensors(path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """The safetensors layout written by hand: header size, JSON header, raw little-endian bytes."""
    names = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}
    header: dict = {} if metadata is None else {"__metadata__": metadata}
    body = b""
    for name, tensor in tensors.items():
        raw = tensor.contiguous().numpy().tobytes()
        header[name] = {
            "dtype": names[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + body)


def test_load_torch_file_reads_safetensors_with_metadata(tmp_path):
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "w": torch.randn(2, 3, generator=generator),
        "i": torch.arange(4),
        "h": torch.ones(1, dtype=torch.float16),
    }
    path = tmp_path / "m.safetensors"
    write_safetensors(path, tensors, {"format": "pt"})
    state, metadata = utils.load_torch_file(str(path), return_metadata=True)
    assert metadata == {"format": "pt"}
    assert set(state) == set(tensors)
    for name, tensor in tensors.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0)


def test_load_torch_file_reads_a_torch_pickle_without_running_code(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    state = utils.load_torch_file(path)
    torch.testing.assert_close(state["w"], torch.ones(2))
    with pytest.raises(ValueError, match="not a safetensors file"):
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"\xff" * 16)
        utils.load_torch_file(bad)


def test_common_upscale_resizes_bchw_with_a_center_crop():
    samples = torch.zeros(1, 3, 8, 16)
    samples[..., 4:12] = 1.0
    out = utils.common_upscale(samples, 4, 4, "nearest-exact", "center")
    assert out.shape == (1, 3, 4, 4)
    torch.testing.assert_close(out, torch.ones(1, 3, 4, 4))


def test_devices_follow_the_cpu_flag():
    previous = runtime.current()
    runtime.configure(runtime.CompatSettings(cpu=True))
    try:
        assert model_management.get_torch_device() == torch.device("cpu")
    finally:
        runtime.configure(previous)
    assert model_management.intermediate_device() == torch.device("cpu")
    assert model_management.is_device_cpu("cpu") and not model_management.is_device_cpu(None)
    assert model_management.get_free_memory(torch.device("cpu")) > 0
    model_management.soft_empty_cache()
    model_management.unload_all_models()


CHECK_HOOK = """
import importlib, sys
try:
    import comfy.utils
except ModuleNotFoundError:
    print("absent before install")
from impasto.compat import hook
hook.install()
import comfy.utils, comfy.model_management, folder_paths, server
from comfy import utils
import impasto.compat.shims.comfy.utils as shim
assert comfy.utils is shim and utils is shim
assert sys.modules["folder_paths"] is importlib.import_module("impasto.compat.shims.folder_paths")
try:
    import comfy.sd
except ModuleNotFoundError as exc:
    print("not provided:", exc.name)
"""


def test_the_hook_provides_the_names_only_once_installed_and_shares_one_module():
    done = subprocess.run([sys.executable, "-c", CHECK_HOOK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["absent before install", "not provided: comfy.sd"]
