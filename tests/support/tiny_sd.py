"""Tiny random SD1.x-shaped models built with diffusers/transformers, written as one LDM-layout checkpoint.

The references (diffusers' UNet and VAE, transformers' CLIP text model) keep their weights in memory so tests
compare impasto's models with them; `write_checkpoint` converts their state dicts to the original
(CompVis/LDM) key layout that users' single-file checkpoints use: `model.diffusion_model.*`,
`first_stage_model.*`, `cond_stage_model.transformer.*`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

UNET_CHANNELS = (32, 64, 64)
VAE_CHANNELS = (32, 32, 64, 64)
CLIP_WIDTH = 128
CLIP_LAYERS = 3


@dataclass
class TinySD:
    """The reference models and the checkpoint written from their weights."""

    path: Path
    unet: torch.nn.Module
    vae: torch.nn.Module
    clip: torch.nn.Module
    layers_per_block: int


def _randomize(module: torch.nn.Module, seed: int) -> None:
    """Every parameter random (no zero-initialised output layers), scaled by fan-in to keep activations O(1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.dim() >= 2:
                fan_in = math.prod(param.shape[1:])
                scale = 0.02 if "embedding" in name else 1.0 / math.sqrt(fan_in)
                if "time_emb" in name:
                    scale *= 4.0  # make the output depend clearly on the timestep
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
            elif name.endswith("weight"):  # norms
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))


def build_unet(layers_per_block: int = 1, context_dim: int = CLIP_WIDTH, seed: int = 1) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    unet = cast(torch.nn.Module, UNet2DConditionModel)(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=UNET_CHANNELS,
        layers_per_block=layers_per_block,
        cross_attention_dim=context_dim,
        attention_head_dim=8,  # diffusers' legacy name: SD1.x has 8 heads
        norm_num_groups=32,
    )
    _randomize(unet, seed)
    return unet.eval()


def build_vae(seed: int = 2) -> torch.nn.Module:
    from diffusers import AutoencoderKL

    vae = cast(torch.nn.Module, AutoencoderKL)(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_CHANNELS),
        up_block_types=("UpDecoderBlock2D",) * len(VAE_CHANNELS),
        block_out_channels=VAE_CHANNELS,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
    )
    _randomize(vae, seed)
    return vae.eval()


def build_clip(seed: int = 3) -> torch.nn.Module:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=CLIP_WIDTH,
        intermediate_size=4 * CLIP_WIDTH,
        num_hidden_layers=CLIP_LAYERS,
        num_attention_heads=CLIP_WIDTH // 64,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    clip = CLIPTextModel(config)
    _randomize(clip, seed)
    return clip.eval()


# --- diffusers -> LDM key conversion -------------------------------------------------------------------------

_UNET_RES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def _rename_resnet(rest: str, table: dict[str, str]) -> str:
    head, _, tail = rest.partition(".")
    return f"{table.get(head, head)}.{tail}"


def unet_to_ldm(state: dict[str, torch.Tensor], layers_per_block: int) -> dict[str, torch.Tensor]:
    """diffusers UNet2DConditionModel keys -> LDM `model.diffusion_model.*` keys."""
    per_level = layers_per_block + 1
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if key.startswith("conv_in."):
            new = "input_blocks.0.0." + parts[1]
        elif key.startswith("time_embedding.linear_"):
            new = f"time_embed.{0 if parts[1] == 'linear_1' else 2}.{parts[2]}"
        elif key.startswith("conv_norm_out."):
            new = "out.0." + parts[1]
        elif key.startswith("conv_out."):
            new = "out.2." + parts[1]
        elif parts[0] == "down_blocks":
            level, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "downsamplers":
                new = f"input_blocks.{per_level * (level + 1)}.0.op.{parts[-1]}"
            else:
                block = per_level * level + index + 1
                if kind == "resnets":
                    new = f"input_blocks.{block}.0.{_rename_resnet(rest, _UNET_RES)}"
                else:
                    new = f"input_blocks.{block}.1.{rest}"
        elif parts[0] == "mid_block":
            kind, index, rest = parts[1], int(parts[2]), ".".join(parts[3:])
            if kind == "resnets":
                new = f"middle_block.{2 * index}.{_rename_resnet(rest, _UNET_RES)}"
            else:
                new = f"middle_block.1.{rest}"
        elif parts[0] == "up_blocks":
            level, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
            if kind == "upsamplers":
                block = per_level * level + per_level - 1
                has_attention = any(k.startswith(f"up_blocks.{level}.attentions.") for k in state)
                new = f"output_blocks.{block}.{2 if has_attention else 1}.conv.{parts[-1]}"
            else:
                block = per_level * level + index
                if kind == "resnets":
                    new = f"output_blocks.{block}.0.{_rename_resnet(rest, _UNET_RES)}"
                else:
                    new = f"output_blocks.{block}.1.{rest}"
        else:
            raise KeyError(f"unmapped diffusers UNet key {key}")
        out["model.diffusion_model." + new] = value
    return out


_VAE_RES = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}


def vae_to_ldm(state: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKL keys -> LDM `first_stage_model.*` keys (attention as 1x1 convolutions)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        side = parts[0]
        if side in ("quant_conv", "post_quant_conv") or parts[1] in ("conv_in", "conv_out"):
            new = key
        elif parts[1] == "conv_norm_out":
            new = f"{side}.norm_out.{parts[2]}"
        elif parts[1] == "mid_block":
            kind, index = parts[2], int(parts[3])
            if kind == "resnets":
                new = f"{side}.mid.block_{index + 1}.{_rename_resnet('.'.join(parts[4:]), _VAE_RES)}"
            else:
                name = _VAE_ATTN[parts[4]]
                new = f"{side}.mid.attn_1.{name}.{parts[-1]}"
                if name != "norm" and value.dim() == 2:
                    value = value[:, :, None, None]
        elif parts[1] in ("down_blocks", "up_blocks"):
            level = int(parts[2])
            stage = "down" if parts[1] == "down_blocks" else "up"
            if stage == "up":
                level = levels - 1 - level  # LDM numbers decoder levels from the lowest resolution up
            kind = parts[3]
            if kind == "resnets":
                rest = _rename_resnet(".".join(parts[5:]), _VAE_RES)
                new = f"{side}.{stage}.{level}.block.{parts[4]}.{rest}"
            else:
                new = f"{side}.{stage}.{level}.{'downsample' if stage == 'down' else 'upsample'}.conv.{parts[-1]}"
        else:
            raise KeyError(f"unmapped diffusers VAE key {key}")
        out["first_stage_model." + new] = value
    return out


def clip_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers CLIPTextModel keys -> `cond_stage_model.transformer.*`, with the position_ids buffer that
    stock SD1.x checkpoints carry."""
    # transformers 5 drops the `text_model.` level from CLIPTextModel's keys; checkpoints have it.
    out = {"cond_stage_model.transformer.text_model." + k.removeprefix("text_model."): v for k, v in state.items()}
    out["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    return out


def write_checkpoint(tiny: TinySD) -> None:
    from safetensors.torch import save_file

    state: dict[str, torch.Tensor] = {}
    state.update(unet_to_ldm(tiny.unet.state_dict(), tiny.layers_per_block))
    state.update(vae_to_ldm(tiny.vae.state_dict(), len(VAE_CHANNELS)))
    state.update(clip_to_ldm(tiny.clip.state_dict()))
    save_file({k: v.contiguous() for k, v in state.items()}, str(tiny.path))


def make_tiny_sd(directory: Path, layers_per_block: int = 1) -> TinySD:
    """Build the three reference models and write `tiny_sd1.safetensors` (about 30 MB) into `directory`."""
    tiny = TinySD(
        path=directory / f"tiny_sd1_l{layers_per_block}.safetensors",
        unet=build_unet(layers_per_block),
        vae=build_vae(),
        clip=build_clip(),
        layers_per_block=layers_per_block,
    )
    write_checkpoint(tiny)
    return tiny
