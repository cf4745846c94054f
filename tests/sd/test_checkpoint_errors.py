"""Unreadable files and checkpoints of other families fail with errors that say what was found."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from impasto.models.checkpoint import load_sd1, read_state_dict
from impasto.models.errors import CheckpointError, UnsupportedModelError


def test_a_truncated_safetensors_file_is_a_checkpoint_error(tiny_sd, tmp_path):
    data = tiny_sd.path.read_bytes()
    for name, cut in (("header.safetensors", 40), ("half.safetensors", len(data) // 2)):
        broken = tmp_path / name
        broken.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="not a valid safetensors file") as caught:
            load_sd1(broken)
        assert caught.value.path == str(broken)


def test_garbage_and_missing_files_are_checkpoint_errors(tmp_path):
    garbage = tmp_path / "noise.safetensors"
    garbage.write_bytes(b"\x00\xff" * 1000)
    with pytest.raises(CheckpointError):
        read_state_dict(garbage)
    (tmp_path / "noise.ckpt").write_bytes(b"not a zip or pickle" * 10)
    with pytest.raises(CheckpointError, match=r"truncated or corrupt|other than tensors"):
        read_state_dict(tmp_path / "noise.ckpt")
    with pytest.raises(CheckpointError, match="no such file"):
        read_state_dict(tmp_path / "absent.safetensors")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unknown file type"):
        read_state_dict(tmp_path / "model.onnx")


class _Payload:
    """Unpickling this would create a file: proof that the loader ran code from the checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_ckpt_holding_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="other than tensors"):
        read_state_dict(path)
    assert not marker.exists()


def test_a_ckpt_of_plain_tensors_loads_like_the_safetensors_file(tiny_sd, tmp_path):
    state = read_state_dict(tiny_sd.path)
    path = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": state, "global_step": 10}, path)
    loaded = load_sd1(path)
    reference = load_sd1(tiny_sd.path)
    for a, b in zip(loaded.unet.parameters(), reference.unet.parameters(), strict=True):
        assert torch.equal(a, b)


def _unet_with_context(dim: int) -> dict[str, torch.Tensor]:
    return {
        "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3),
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(32, dim),
    }


@pytest.mark.parametrize(
    ("state", "found"),
    [
        ({"double_blocks.0.img_attn.qkv.weight": torch.zeros(2, 2)}, "Flux"),
        ({"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": torch.zeros(2)}, "Stable Diffusion 3"),
        (
            {**_unet_with_context(2048), "model.diffusion_model.label_emb.0.0.weight": torch.zeros(2, 2)},
            "SDXL model.*context dim 2048",
        ),
        ({**_unet_with_context(2048), "conditioner.embedders.0.transformer.x": torch.zeros(1)}, "SDXL"),
        (_unet_with_context(1024), "Stable Diffusion 2.x.*context dim 1024"),
        (
            {**_unet_with_context(768), "cond_stage_model.model.transformer.resblocks.0.ln_1.weight": torch.zeros(1)},
            "Stable Diffusion 2.x.*OpenCLIP",
        ),
        ({"down_blocks.0.resnets.0.conv1.weight": torch.zeros(1)}, "diffusers-layout"),
        ({"encoder.conv_in.weight": torch.zeros(1)}, "no SD1.x UNet.*top-level keys: encoder"),
    ],
    ids=["flux", "sd3", "sdxl-label-emb", "sdxl-conditioner", "sd2-context", "sd2-openclip", "diffusers", "vae-only"],
)
def test_other_families_are_named_in_the_error(tmp_path, state, found):
    path = tmp_path / "other.safetensors"
    save_file(state, str(path))
    with pytest.raises(UnsupportedModelError, match=found):
        load_sd1(path)


def test_a_checkpoint_without_a_vae_says_so(tiny_sd, tmp_path):
    state = {k: v for k, v in read_state_dict(tiny_sd.path).items() if not k.startswith("first_stage_model.")}
    path = tmp_path / "novae.safetensors"
    save_file(state, str(path))
    with pytest.raises(UnsupportedModelError, match="no KL autoencoder"):
        load_sd1(path)


def test_a_checkpoint_with_a_missing_tensor_names_it(tiny_sd, tmp_path):
    state = read_state_dict(tiny_sd.path)
    del state["model.diffusion_model.output_blocks.2.1.proj_out.weight"]
    path = tmp_path / "hole.safetensors"
    save_file(state, str(path))
    with pytest.raises(UnsupportedModelError, match=r"1 missing, e.g. output_blocks.2.1.proj_out.weight"):
        load_sd1(path)
