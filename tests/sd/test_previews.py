"""Live previews: the latent -> RGB fit, and KSampler's throttled JPEG frames in a real engine run."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from types import SimpleNamespace
from typing import cast

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.testing import assert_close

from impasto.engine.cache import CacheSettings
from impasto.engine.events import PreviewEvent
from impasto.engine.registry import NodeRegistry
from impasto.models.preview import fit_projection
from impasto.models.vae import AutoencoderKL
from impasto.nodes.image_io import SaveImage
from impasto.nodes.sd import NODE_CLASS_MAPPINGS, previews
from impasto.nodes.sd.loaders import free_models
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders
from tests.conftest import Harness
from tests.sd.test_nodes import default_workflow


class AffineDecoder(torch.nn.Module):
    """A decoder that is exactly affine per pixel (a 1x1 convolution, then 8x nearest upsampling)."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(embed_dim=4)
        self.conv = torch.nn.Conv2d(4, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(3, 4, 1, 1, generator=torch.Generator().manual_seed(0)) * 0.1)
            self.conv.get_parameter("bias").copy_(torch.tensor([0.1, -0.2, 0.05]))

    def decode(self, z):
        return F.interpolate(self.conv(z), scale_factor=8, mode="nearest")


def test_the_fit_recovers_an_affine_decoder_exactly():
    decoder = AffineDecoder()
    projection = fit_projection(cast(AutoencoderKL, decoder))  # the interface fit_projection uses
    assert_close(projection.weight, decoder.conv.weight[:, :, 0, 0], atol=1e-6, rtol=1e-5)
    assert_close(projection.bias, decoder.conv.bias, atol=1e-6, rtol=1e-5)
    latent = torch.randn(4, 5, 7)
    expected = ((decoder.conv(latent[None])[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    assert torch.equal(projection.to_rgb(latent), expected)


@pytest.fixture
def harness(tiny_sd, tmp_path, configure_nodes) -> Iterator[Harness]:
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_sd.path, tmp_path / "models" / "checkpoints" / "tiny.safetensors")
    configure_nodes(NodeSettings(Folders.from_base(tmp_path)))
    registry = NodeRegistry()
    for name, cls in {**NODE_CLASS_MAPPINGS, "SaveImage": SaveImage}.items():
        registry.register(name, cls)
    yield Harness(registry, CacheSettings())
    free_models()


def _previews(run) -> list[PreviewEvent]:
    return [e for e in run.events if isinstance(e, PreviewEvent)]


def test_ksampler_sends_jpeg_previews_throttled(harness, monkeypatch):
    monkeypatch.setattr(previews, "INTERVAL", 0.0)
    every = _previews(harness.run(default_workflow("tiny.safetensors", seed=1, steps=4)))
    assert len(every) == 4 and {e.node_id for e in every} == {"3"}
    assert {e.image_format for e in every} == {"JPEG"}
    with Image.open(io.BytesIO(every[-1].image)) as image:
        assert image.format == "JPEG" and image.size == (8, 6)  # the latent of 64 x 48 pixels
    monkeypatch.setattr(previews, "INTERVAL", 3600.0)
    sparse = _previews(harness.run(default_workflow("tiny.safetensors", seed=2, steps=4)))
    assert len(sparse) == 2  # the first step, then nothing until the last
