"""Tiled VAE decode/encode: a local operation over tiles equals it over the whole image; the real VAE gives
the same result as VAEDecode/VAEEncode when one tile covers everything, and stops between tiles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from impasto.engine.cancel import CancelToken, Interrupted
from impasto.engine.context import running
from impasto.nodes.sd.latent import VAEDecode, VAEEncode
from impasto.nodes.sd.loaders import CheckpointLoaderSimple, free_models
from impasto.nodes.sd.tiled import VAEDecodeTiled, VAEEncodeTiled, tiled
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders


def test_a_local_operation_over_tiles_equals_it_over_the_whole():
    x = torch.randn(2, 4, 37, 29, generator=torch.Generator().manual_seed(0))

    def up(t):  # nearest 8x plus a per-pixel nonlinearity: what a tile sees does not depend on its neighbours
        return torch.tanh(F.interpolate(t[:, :3], scale_factor=8, mode="nearest")) * 2

    def down(t):
        return F.avg_pool2d(t, 8)

    whole = up(x)
    for tile, overlap in ((8, 2), (16, 4), (13, 0), (64, 8)):
        assert_close(tiled(x, up, tile, overlap, 8), whole)
    image = torch.randn(1, 3, 96, 64)
    assert_close(tiled(image, down, 32, 8, 1 / 8), down(image))


@pytest.fixture
def vae(tiny_sd, tmp_path, configure_nodes) -> Iterator[object]:
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_sd.path, tmp_path / "models" / "checkpoints" / "tiny.safetensors")
    configure_nodes(NodeSettings(Folders.from_base(tmp_path)))
    yield CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")[2]
    free_models()


def test_one_tile_is_the_plain_conversion_and_small_tiles_keep_the_size(vae):
    latent = {"samples": torch.randn(1, 4, 10, 12, generator=torch.Generator().manual_seed(1))}
    (plain,) = VAEDecode().decode(vae, latent)
    (single,) = VAEDecodeTiled().decode(vae, latent, tile_size=128, overlap=32, temporal_size=64, temporal_overlap=8)
    assert_close(single, plain, atol=1e-5, rtol=1e-5)
    (small,) = VAEDecodeTiled().decode(vae, latent, tile_size=64, overlap=32)
    assert small.shape == plain.shape == (1, 80, 96, 3)
    assert torch.isfinite(small).all()
    pixels = torch.rand(1, 80, 96, 3, generator=torch.Generator().manual_seed(2))
    (plain_latent,) = VAEEncode().encode(vae, pixels)
    (single_latent,) = VAEEncodeTiled().encode(vae, pixels, tile_size=128, overlap=0)
    assert_close(single_latent["samples"], plain_latent["samples"], atol=1e-5, rtol=1e-5)
    (small_latent,) = VAEEncodeTiled().encode(vae, pixels, tile_size=64, overlap=32)
    assert small_latent["samples"].shape == (1, 4, 10, 12)


@dataclass
class _Run:
    """The job scope node code sees (engine.context.RunScope)."""

    token: CancelToken
    prompt_id: str = "p"
    client_id: str | None = None

    def report_progress(self, node_id, value, total, preview=None):
        self.token.raise_if_cancelled()


def test_an_interrupt_stops_between_tiles(vae, monkeypatch):
    token = CancelToken()
    calls = []

    def decode(z):
        calls.append(z.shape)
        if len(calls) == 2:
            token.cancel()
        return real(z)

    real = vae.model.decode
    monkeypatch.setattr(vae.model, "decode", decode)
    latent = {"samples": torch.randn(1, 4, 24, 24)}
    with running(_Run(token)), pytest.raises(Interrupted):  # as inside a job
        VAEDecodeTiled().decode(vae, latent, tile_size=64, overlap=0)
    assert len(calls) == 2  # of 9 tiles
