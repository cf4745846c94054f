"""Standalone VAE/CLIP/UNet loaders, latent resizing, noise masks and combined conditioning."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import save_file
from torch.testing import assert_close

from impasto.models.checkpoint import read_state_dict
from impasto.models.errors import UnsupportedModelError
from impasto.nodes.sd.conditioning import CLIPTextEncode, ConditioningCombine
from impasto.nodes.sd.ksampler import KSampler
from impasto.nodes.sd.latent import EmptyLatentImage, VAEEncode
from impasto.nodes.sd.latent_ops import LatentUpscale, LatentUpscaleBy, SetLatentNoiseMask
from impasto.nodes.sd.loaders import CheckpointLoaderSimple, CLIPLoader, UNETLoader, VAELoader, free_models
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders


def _part(state: dict, prefix: str, new_prefix: str = "") -> dict:
    return {new_prefix + k[len(prefix) :]: v.contiguous() for k, v in state.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def parts(tiny_sd, tmp_path_factory):
    """The tiny checkpoint, and its three parts as files laid out as the standalone releases are."""
    base = tmp_path_factory.mktemp("parts")
    state = read_state_dict(tiny_sd.path)
    for folder in ("checkpoints", "vae", "text_encoders", "diffusion_models"):
        (base / "models" / folder).mkdir(parents=True)
    shutil.copy(tiny_sd.path, base / "models" / "checkpoints" / "tiny.safetensors")
    save_file(_part(state, "first_stage_model."), str(base / "models" / "vae" / "tiny_vae.safetensors"))
    save_file(
        _part(state, "cond_stage_model.transformer."), str(base / "models" / "text_encoders" / "tiny_clip.safetensors")
    )
    save_file(_part(state, "model.diffusion_model."), str(base / "models" / "diffusion_models" / "tiny_unet.sft"))
    save_file(
        {"encoder.down_blocks.0.resnets.0.conv1.weight": torch.zeros(1)},
        str(base / "models" / "vae" / "diffusers.safetensors"),
    )
    return base


@pytest.fixture
def folders(parts, configure_nodes) -> Iterator[Folders]:
    folders = Folders.from_base(parts)
    configure_nodes(NodeSettings(folders))
    yield folders
    free_models()


@pytest.fixture
def pieces(folders):
    model, clip, vae = CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")
    (positive,) = CLIPTextEncode().encode(clip, "a red apple")
    (negative,) = CLIPTextEncode().encode(clip, "")
    return model, clip, vae, positive, negative


def _same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), (_, y) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(x, y), name


def test_standalone_parts_load_like_the_checkpoint(folders, pieces):
    model, clip, vae, _, _ = pieces
    (alone_vae,) = VAELoader().load_vae("tiny_vae.safetensors")
    (alone_clip,) = CLIPLoader().load_clip("tiny_clip.safetensors", "stable_diffusion")
    (alone_unet,) = UNETLoader().load_unet("tiny_unet.sft", "default")
    _same_parameters(alone_vae.model, vae.model)
    _same_parameters(alone_clip.model, clip.model)
    _same_parameters(alone_unet.unet, model.unet)
    assert VAELoader.INPUT_TYPES()["required"]["vae_name"][0] == ["diffusers.safetensors", "tiny_vae.safetensors"]
    (cpu_clip,) = CLIPLoader().load_clip("tiny_clip.safetensors", "stable_diffusion", device="cpu")
    assert cpu_clip.device == torch.device("cpu")


def test_a_diffusers_layout_vae_and_other_clip_types_are_refused(folders):
    with pytest.raises(UnsupportedModelError, match="diffusers-layout autoencoder"):
        VAELoader().load_vae("diffusers.safetensors")
    with pytest.raises(ValueError, match="CLIP type 'sd3' is not supported"):
        CLIPLoader().load_clip("tiny_clip.safetensors", "sd3")
    with pytest.raises(FileNotFoundError, match=r"absent\.safetensors not found in the vae folders"):
        VAELoader().load_vae("absent.safetensors")


def test_conditioning_of_another_width_is_a_clear_error(pieces):
    model, _, _, _, negative = pieces
    (latent,) = EmptyLatentImage().generate(32, 32, 1)
    wide = [[torch.zeros(1, 77, 1024), {}]]
    with pytest.raises(ValueError, match=r"positive conditioning has shape \(1, 77, 1024\).*width 128"):
        KSampler().sample(model, 0, 2, 7.0, "euler", "normal", wide, negative, latent)


def test_latent_upscale_sizes():
    latent = {"samples": torch.randn(2, 4, 8, 6)}
    assert LatentUpscale().upscale(latent, "bilinear", 0, 0, "disabled")[0] is latent
    assert LatentUpscale().upscale(latent, "nearest-exact", 96, 128, "disabled")[0]["samples"].shape == (2, 4, 16, 12)
    assert LatentUpscale().upscale(latent, "bicubic", 0, 128, "disabled")[0]["samples"].shape == (2, 4, 16, 12)
    assert LatentUpscale().upscale(latent, "area", 16, 16, "center")[0]["samples"].shape == (2, 4, 8, 8)  # 64 px least
    assert LatentUpscaleBy().upscale(latent, "bilinear", 1.5)[0]["samples"].shape == (2, 4, 12, 9)
    doubled = LatentUpscaleBy().upscale(latent, "nearest-exact", 2.0)[0]["samples"]
    assert torch.equal(doubled[..., ::2, ::2], latent["samples"])


def test_a_noise_mask_keeps_the_unmasked_region(pieces):
    model, _, vae, positive, negative = pieces
    pixels = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(2))
    (latent,) = VAEEncode().encode(vae, pixels)
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0  # regenerate the right half
    (masked,) = SetLatentNoiseMask().set_mask(latent, mask)
    assert masked["noise_mask"].shape == (1, 1, 64, 64)
    (out,) = KSampler().sample(model, 3, 4, 6.0, "euler", "normal", positive, negative, masked)
    assert_close(out["samples"][..., :4], latent["samples"][..., :4])
    assert not torch.allclose(out["samples"][..., 4:], latent["samples"][..., 4:], atol=1e-3)
    everywhere = {**latent, "noise_mask": torch.ones(1, 64, 64)}
    (free,) = KSampler().sample(model, 3, 4, 6.0, "euler", "normal", positive, negative, everywhere)
    (plain,) = KSampler().sample(model, 3, 4, 6.0, "euler", "normal", positive, negative, latent)
    assert_close(free["samples"], plain["samples"])


def test_combined_conditioning_averages_the_estimates(pieces):
    model, clip, _, positive, negative = pieces
    (other,) = CLIPTextEncode().encode(clip, "a blue car")
    (latent,) = EmptyLatentImage().generate(32, 32, 1)
    run = lambda cond: KSampler().sample(model, 4, 3, 5.0, "euler", "karras", cond, negative, latent)[0]["samples"]  # noqa: E731
    (twice,) = ConditioningCombine().combine(positive, positive)
    assert len(twice) == 2
    # One batched CFG pass against separate passes: float32 rounding, scaled by CFG 5 and 3 steps from sigma 14.6.
    assert_close(run(twice), run(positive), atol=5e-3, rtol=5e-3)
    (mixed,) = ConditioningCombine().combine(positive, other)
    combined = run(mixed)
    assert not torch.allclose(combined, run(positive), atol=1e-4)
    assert not torch.allclose(combined, run(other), atol=1e-4)


def test_an_area_conditioning_acts_only_inside_its_rectangle(pieces):
    from impasto.nodes.sd.conditioning import ConditioningSetArea

    model, clip, _, positive, negative = pieces
    (red,) = CLIPTextEncode().encode(clip, "a red square")
    (blue,) = CLIPTextEncode().encode(clip, "a blue circle")
    (red_area,) = ConditioningSetArea().append(red, width=32, height=32, x=0, y=0, strength=2.0)
    assert red_area[0][1]["area"] == (4, 4, 0, 0) and red_area[0][1]["strength"] == 2.0
    (blue_area,) = ConditioningSetArea().append(blue, width=32, height=32, x=0, y=0, strength=2.0)
    (latent,) = EmptyLatentImage().generate(64, 64, 1)

    def run(cond):  # one step: the result is the estimate itself, before the UNet mixes regions
        return KSampler().sample(model, 7, 1, 4.0, "euler", "normal", cond, negative, latent)[0]["samples"]

    with_red = run(ConditioningCombine().combine(positive, red_area)[0])
    with_blue = run(ConditioningCombine().combine(positive, blue_area)[0])
    assert_close(with_red[..., 4:, :], with_blue[..., 4:, :], atol=1e-5, rtol=1e-5)
    assert_close(with_red[..., :, 4:], with_blue[..., :, 4:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(with_red[..., :4, :4], with_blue[..., :4, :4], atol=1e-3)
    (outside,) = ConditioningSetArea().append(red, width=64, height=64, x=512, y=512, strength=1.0)
    alone = run(positive)
    # Separate passes against alone's one batched CFG pass: float32 rounding times sigma 14.6 and CFG 4.
    assert_close(run(ConditioningCombine().combine(positive, outside)[0]), alone, atol=2e-3, rtol=1e-3)


def test_a_half_precision_unet_samples_in_float32(tiny_sd, pieces):
    from impasto.models.checkpoint import load_sd1
    from impasto.nodes.sd.objects import SDModel

    model, _, _, positive, negative = pieces
    half = SDModel(load_sd1(tiny_sd.path, dtype=torch.bfloat16).unet, model.schedule, model.device, torch.bfloat16)
    (latent,) = EmptyLatentImage().generate(32, 32, 1)
    (low,) = KSampler().sample(half, 9, 3, 5.0, "dpmpp_2m", "karras", positive, negative, latent)
    (full,) = KSampler().sample(model, 9, 3, 5.0, "dpmpp_2m", "karras", positive, negative, latent)
    assert low["samples"].dtype == torch.float32 and torch.isfinite(low["samples"]).all()
    # bfloat16 keeps 8 bits of mantissa, and CFG 5 on a random model amplifies its error: about 9% here.
    assert float((low["samples"] - full["samples"]).abs().mean()) < 0.15 * float(full["samples"].abs().mean())
