"""The smoke-test checkpoint writer: its files load as SD1.x checkpoints; `sd15` has SD1.5's exact shapes."""

from __future__ import annotations

import pytest
import torch

from impasto.models.checkpoint import load_sd1
from impasto.models.clip import CLIPTextModel
from impasto.models.conditioning import encode_prompt
from impasto.models.random_checkpoint import SIZES, main
from impasto.models.unet import UNetModel
from impasto.models.vae import AutoencoderKL


def test_the_tiny_random_checkpoint_loads_and_runs(tmp_path, capsys):
    path = tmp_path / "checkpoints" / "random_tiny.safetensors"
    assert main([str(path), "--seed", "3"]) == 0
    assert "images are noise" in capsys.readouterr().out
    models = load_sd1(path)
    assert (models.unet.config, models.vae.config, models.clip.config) == SIZES["tiny"]
    context = encode_prompt(models.clip, "a test").hidden
    with torch.no_grad():
        eps = models.unet(torch.randn(1, 4, 8, 8), torch.tensor([999.0]), context)
        image = models.vae.decode(torch.randn(1, 4, 8, 8))
    assert torch.isfinite(eps).all() and eps.std() > 0
    assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()


def test_the_sd15_size_has_the_parameter_counts_of_sd15():
    unet, vae, clip = SIZES["sd15"]
    with torch.device("meta"):
        counts = [
            sum(p.numel() for p in m.parameters()) for m in (UNetModel(unet), AutoencoderKL(vae), CLIPTextModel(clip))
        ]
    assert counts == [859_520_964, 83_653_863, 123_060_480]


def test_a_file_name_without_the_safetensors_suffix_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "random.ckpt")])
