"""impasto's SD1.x models give the same outputs as diffusers/transformers built from the same weights."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from impasto.models import detect
from impasto.models.checkpoint import build_unet, load_sd1, read_state_dict
from tests.support.tiny_sd import build_unet as build_reference_unet
from tests.support.tiny_sd import unet_to_ldm


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """fp32 on the CPU: the two implementations differ only in summation order."""
    assert_close(actual, expected, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def loaded(tiny_sd):
    return load_sd1(tiny_sd.path)


def test_configs_are_read_from_the_shapes(tiny_sd):
    state = read_state_dict(tiny_sd.path)
    unet = detect.unet_config(state)
    assert (unet.model_channels, unet.channel_mult, unet.num_res_blocks) == (32, (1, 2, 2), (1, 1, 1))
    assert (unet.transformer_depth, unet.transformer_depth_middle, unet.context_dim) == ((1, 1, 0), 1, 128)
    assert (unet.in_channels, unet.out_channels, unet.ff_mult) == (4, 4, 4)
    vae = detect.vae_config(state)
    assert (vae.ch, vae.ch_mult, vae.num_res_blocks, vae.z_channels, vae.embed_dim) == (32, (1, 1, 2, 2), 1, 4, 4)
    assert vae.downscale == 8
    clip = detect.clip_config(state)
    assert (clip.width, clip.layers, clip.intermediate, clip.heads, clip.vocab_size) == (128, 3, 512, 2, 49408)


@pytest.mark.parametrize("size", [(16, 16), (13, 9)], ids=["square", "odd"])
def test_unet_matches_diffusers(tiny_sd, loaded, generator, size):
    x = torch.randn(2, 4, *size, generator=generator)
    t = torch.tensor([3.0, 741.0])
    context = torch.randn(2, 77, 128, generator=generator)
    with torch.no_grad():
        expected = tiny_sd.unet(x, t, encoder_hidden_states=context).sample
        actual = loaded.unet(x, t, context)
    assert actual.shape == x.shape
    close(actual, expected)


def test_unet_with_two_resblocks_per_level_loads_and_matches(generator):
    reference = build_reference_unet(layers_per_block=2, seed=7)
    state = unet_to_ldm(reference.state_dict(), layers_per_block=2)
    unet = build_unet({f"{detect.UNET_PREFIX}{k.removeprefix(detect.UNET_PREFIX)}": v for k, v in state.items()})
    assert unet.config.num_res_blocks == (2, 2, 2)
    x = torch.randn(1, 4, 8, 8, generator=generator)
    context = torch.randn(1, 5, 128, generator=generator)
    t = torch.tensor([999.0])
    with torch.no_grad():
        close(unet(x, t, context), reference(x, t, encoder_hidden_states=context).sample)


def test_vae_encode_and_decode_match_diffusers(tiny_sd, loaded, generator):
    image = torch.rand(1, 3, 64, 48, generator=generator) * 2 - 1
    z = torch.randn(2, 4, 8, 6, generator=generator)
    with torch.no_grad():
        close(loaded.vae.encode(image), tiny_sd.vae.encode(image).latent_dist.mean)
        decoded = loaded.vae.decode(z)
        assert decoded.shape == (2, 3, 64, 48)
        close(decoded, tiny_sd.vae.decode(z).sample)


def _tokens(generator: torch.Generator, batch: int = 2) -> torch.Tensor:
    tokens = torch.full((batch, 77), 49407)
    tokens[:, 0] = 49406
    for row, length in enumerate((5, 30)[:batch]):
        tokens[row, 1 : 1 + length] = torch.randint(0, 49406, (length,), generator=generator)
    return tokens


def test_text_encoder_matches_transformers(tiny_sd, loaded, generator):
    tokens = _tokens(generator)
    with torch.no_grad():
        reference = tiny_sd.clip(input_ids=tokens, output_hidden_states=True)
        last = loaded.clip(tokens)
        skip = loaded.clip(tokens, last_layer=-2)
        first = loaded.clip(tokens, last_layer=-3)
        norm = tiny_sd.clip.text_model.final_layer_norm if hasattr(tiny_sd.clip, "text_model") else None
        norm = norm or tiny_sd.clip.final_layer_norm
        close(last.hidden, reference.last_hidden_state)
        close(last.pooled, reference.pooler_output)
        close(skip.hidden, norm(reference.hidden_states[-2]))
        close(first.hidden, norm(reference.hidden_states[1]))
    with pytest.raises(ValueError, match="last_layer"):
        loaded.clip(tokens, last_layer=-4)


def test_bfloat16_weights_load_and_run_close_to_fp32(tiny_sd, loaded, generator):
    half = load_sd1(tiny_sd.path, dtype=torch.bfloat16)
    assert {p.dtype for p in half.unet.parameters()} == {torch.bfloat16}
    x = torch.randn(1, 4, 8, 8, generator=generator)
    context = torch.randn(1, 77, 128, generator=generator)
    t = torch.tensor([500.0])
    with torch.no_grad():
        low = half.unet(x, t, context).float()
        full = loaded.unet(x, t, context)
    # bf16 keeps 8 bits of mantissa; errors accumulate over ~20 layers.
    assert_close(low, full, atol=0.15, rtol=0.1)
    assert (low - full).abs().mean() < 0.05
