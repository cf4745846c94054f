"""Reading checkpoint files and building the SD1.x models from them.

`.safetensors` files are read with safetensors; `.ckpt`/`.pt`/`.pth`/`.bin` with
`torch.load(weights_only=True)`, which refuses pickled code objects, so a checkpoint can never run code.
Models are built on the meta device and take the file's tensors directly (`load_state_dict(assign=True)`):
no random initialisation, no second copy of the weights.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from impasto.models import detect
from impasto.models.clip import CLIPTextModel
from impasto.models.errors import CheckpointError, UnsupportedModelError
from impasto.models.unet import UNetModel
from impasto.models.vae import AutoencoderKL

log = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True, slots=True)
class SD1Checkpoint:
    """The three models of one SD1.x single-file checkpoint."""

    unet: UNetModel
    vae: AutoencoderKL
    clip: CLIPTextModel


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors in the file, on the CPU, keyed as stored. Raises CheckpointError for anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(str(path), "no such file")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path)
    if suffix in PICKLE_SUFFIXES:
        return _read_pickle(path)
    raise CheckpointError(str(path), f"unknown file type {suffix!r} (expected .safetensors, .ckpt, .pt, .pth or .bin)")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(str(path), f"not a valid safetensors file ({error})") from error


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses anything but tensors and plain containers: classes, functions, code.
        raise CheckpointError(str(path), f"it holds objects other than tensors, refused ({error})") from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(str(path), f"truncated or corrupt ({error})") from error
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # Lightning-style training checkpoints nest the weights
    if not isinstance(loaded, dict):
        raise CheckpointError(str(path), f"expected a dict of tensors, found {type(loaded).__name__}")
    return {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


def _sub(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _build(
    factory: Callable[[], M], weights: dict[str, torch.Tensor], what: str, dtype: torch.dtype, device: torch.device
) -> M:
    """Construct on the meta device and adopt `weights` (converted to dtype/device) as the parameters."""
    with torch.device("meta"):
        model = factory()
    converted = {k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v for k, v in weights.items()}
    expected = set(model.state_dict())
    missing = sorted(expected - converted.keys())
    unexpected = sorted(converted.keys() - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {', '.join(unexpected[:3])}")
        raise UnsupportedModelError(f"an SD1.x-like {what} with different weights", "; ".join(parts))
    try:
        model.load_state_dict(converted, strict=True, assign=True)
    except RuntimeError as error:  # a shape that disagrees with the detected config
        raise UnsupportedModelError(f"an SD1.x-like {what} with inconsistent shapes", str(error)[:400]) from error
    return model.eval().requires_grad_(False)


def build_unet(
    state: Mapping[str, torch.Tensor],
    prefix: str = detect.UNET_PREFIX,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> UNetModel:
    config = detect.unet_config(state, prefix)
    log.debug("UNet config %s", config)
    return _build(lambda: UNetModel(config), _sub(state, prefix), "UNet", dtype, torch.device(device))


def build_vae(
    state: Mapping[str, torch.Tensor],
    prefix: str = detect.VAE_PREFIX,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> AutoencoderKL:
    config = detect.vae_config(state, prefix)
    weights = _sub(state, prefix)
    for key, value in weights.items():
        # Some converted checkpoints store the mid-block attention projections as linear (c, c) weights.
        if ".attn_1." in key and key.endswith("weight") and value.dim() == 2:
            weights[key] = value[:, :, None, None]
    return _build(lambda: AutoencoderKL(config), weights, "autoencoder", dtype, torch.device(device))


def build_clip(
    state: Mapping[str, torch.Tensor],
    prefix: str = detect.CLIP_PREFIX,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> CLIPTextModel:
    weights: dict[str, torch.Tensor] = {}
    for key, value in _sub(state, prefix).items():
        # Older checkpoints omit the `text_model.` level; the position_ids buffer is recomputed, never loaded.
        key = key if key.startswith("text_model.") else f"text_model.{key}"
        if key != "text_model.embeddings.position_ids":
            weights[key] = value
    normalised = {f"{prefix}{k}": v for k, v in weights.items()}
    config = detect.clip_config(normalised, prefix)
    return _build(lambda: CLIPTextModel(config), weights, "CLIP text encoder", dtype, torch.device(device))


def load_sd1(path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> SD1Checkpoint:
    """UNet, VAE and text encoder from one single-file SD1.x checkpoint in the LDM key layout."""
    state = read_state_dict(path)
    detect.check_family(state)
    return SD1Checkpoint(
        unet=build_unet(state, dtype=dtype, device=device),
        vae=build_vae(state, dtype=dtype, device=device),
        clip=build_clip(state, dtype=dtype, device=device),
    )


def _prefix(state: Mapping[str, torch.Tensor], marker: str, candidates: tuple[str, ...]) -> str | None:
    """The first candidate prefix under which `marker` is a key."""
    return next((p for p in candidates if f"{p}{marker}" in state), None)


def load_unet_file(
    path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> UNetModel:
    """A UNet on its own (UNETLoader): LDM keys, bare or under `model.diffusion_model.`."""
    state = read_state_dict(path)
    prefix = _prefix(state, "input_blocks.0.0.weight", (detect.UNET_PREFIX, ""))
    if prefix is None:
        detect.check_family(state, "")  # names the family it is, or says no UNet was found
        raise UnsupportedModelError("no SD1.x UNet", "expected input_blocks.* keys")
    return build_unet(state, prefix, dtype, device)


def load_vae_file(
    path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> AutoencoderKL:
    """An autoencoder on its own (VAELoader): LDM keys, bare or under `first_stage_model.`."""
    state = read_state_dict(path)
    prefix = _prefix(state, "encoder.conv_in.weight", (detect.VAE_PREFIX, ""))
    if prefix is None:
        if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in state):
            raise UnsupportedModelError("a diffusers-layout autoencoder", "LDM keys (encoder.down.N...) are supported")
        raise UnsupportedModelError("no KL autoencoder", "expected encoder.* and decoder.* keys")
    return build_vae(state, prefix, dtype, device)


def load_clip_file(
    path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> CLIPTextModel:
    """A CLIP text encoder on its own (CLIPLoader): Hugging Face CLIPTextModel keys, bare or under
    `cond_stage_model.transformer.`."""
    state = read_state_dict(path)
    prefix = _prefix(state, "text_model.embeddings.token_embedding.weight", (detect.CLIP_PREFIX, "transformer.", ""))
    if prefix is None:  # older files without the `text_model.` level
        prefix = _prefix(state, "embeddings.token_embedding.weight", (detect.CLIP_PREFIX, ""))
    if prefix is None:
        if any("transformer.resblocks." in k for k in state):
            raise UnsupportedModelError("an OpenCLIP text encoder (SD2.x/SDXL)", "SD1.x uses CLIP ViT-L/14")
        raise UnsupportedModelError("no CLIP text encoder", "expected text_model.embeddings.* keys")
    return build_clip(state, prefix, dtype, device)
