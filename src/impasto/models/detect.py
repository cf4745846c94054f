"""What a state dict is, read from its keys and tensor shapes alone.

`check_family` names the model family a checkpoint belongs to and raises `UnsupportedModelError` for anything
but SD1.x; the `*_config` functions read channel counts, block counts and depths from shapes, so a scaled-down
checkpoint of the SD1.x family loads like the real one. Attention head counts are not in the shapes: SD1.x
uses 8 UNet heads and 64-channel CLIP heads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from impasto.models.clip import CLIPTextConfig
from impasto.models.errors import UnsupportedModelError
from impasto.models.unet import UNetConfig
from impasto.models.vae import VAEConfig

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."

StateDict = Mapping[str, torch.Tensor]


def _indices(state: StateDict, pattern: str) -> list[int]:
    """The distinct integers that `pattern`'s one group matches in the keys, ascending."""
    regex = re.compile(pattern)
    found = {int(m.group(1)) for key in state if (m := regex.match(key))}
    return sorted(found)


def _context_dim(state: StateDict, prefix: str) -> int | None:
    for key, value in state.items():
        if key.startswith(prefix) and key.endswith("attn2.to_k.weight"):
            return int(value.shape[1])
    return None


def check_family(state: StateDict, prefix: str = UNET_PREFIX) -> None:
    """Raise UnsupportedModelError naming the family unless the UNet under `prefix` is SD1.x-shaped."""
    keys = list(state)
    if any(".double_blocks." in k or k.startswith("double_blocks.") for k in keys):
        raise UnsupportedModelError("a Flux model", "double_blocks/single_blocks transformer keys")
    if any("joint_blocks." in k for k in keys):
        raise UnsupportedModelError("a Stable Diffusion 3 model", "MMDiT joint_blocks keys")
    context = _context_dim(state, prefix)
    if f"{prefix}label_emb.0.0.weight" in state or any(k.startswith("conditioner.embedders.") for k in keys):
        raise UnsupportedModelError("an SDXL model", f"label_emb / conditioner.embedders keys, context dim {context}")
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise UnsupportedModelError(
            "a Stable Diffusion 2.x model", "OpenCLIP text encoder keys cond_stage_model.model.*"
        )
    if context in (1024, 2048):
        family = "a Stable Diffusion 2.x model" if context == 1024 else "an SDXL-style model"
        raise UnsupportedModelError(family, f"cross-attention context dim {context}, SD1.x has 768")
    proj_in = state.get(f"{prefix}input_blocks.1.1.proj_in.weight")
    if proj_in is not None and proj_in.dim() == 2:
        raise UnsupportedModelError("a Stable Diffusion 2.x-style UNet", "linear proj_in in the transformers")
    if f"{prefix}input_blocks.0.0.weight" not in state:
        if any(k.startswith(("down_blocks.", "unet.down_blocks.")) for k in keys):
            raise UnsupportedModelError("a diffusers-layout state dict", "single-file LDM checkpoints are supported")
        sample = ", ".join(sorted({k.split(".")[0] for k in keys})[:6]) or "no tensors"
        raise UnsupportedModelError("no SD1.x UNet", f"expected {prefix}input_blocks.*; top-level keys: {sample}")


def unet_config(state: StateDict, prefix: str = UNET_PREFIX) -> UNetConfig:
    """UNet shape from `input_blocks.*`: a row with `.0.op` is a downsample, one with `.1` has attention."""
    check_family(state, prefix)
    first = state[f"{prefix}input_blocks.0.0.weight"]
    model_channels, in_channels = int(first.shape[0]), int(first.shape[1])
    rows = _indices(state, re.escape(prefix) + r"input_blocks\.(\d+)\.")
    mults: list[int] = []
    res_blocks: list[int] = [0]
    depths: list[int] = [0]
    for row in rows[1:]:
        if f"{prefix}input_blocks.{row}.0.op.weight" in state:
            res_blocks.append(0)
            depths.append(0)
            continue
        out = int(state[f"{prefix}input_blocks.{row}.0.in_layers.2.weight"].shape[0])
        if res_blocks[-1] == 0:
            mults.append(out // model_channels)
        res_blocks[-1] += 1
        depths[-1] = len(_indices(state, re.escape(f"{prefix}input_blocks.{row}.1.transformer_blocks.") + r"(\d+)\."))
    middle = len(_indices(state, re.escape(f"{prefix}middle_block.1.transformer_blocks.") + r"(\d+)\."))
    context = _context_dim(state, prefix)
    ff_proj = next((v for k, v in state.items() if k.startswith(prefix) and k.endswith("ff.net.0.proj.weight")), None)
    ff_mult = int(ff_proj.shape[0] // 2 // ff_proj.shape[1]) if ff_proj is not None else 4
    if context is None or middle == 0:
        raise UnsupportedModelError("a UNet without cross-attention", "SD1.x UNets attend to the text context")
    return UNetConfig(
        in_channels=in_channels,
        out_channels=int(state[f"{prefix}out.2.weight"].shape[0]),
        model_channels=model_channels,
        channel_mult=tuple(mults),
        num_res_blocks=tuple(res_blocks),
        transformer_depth=tuple(depths),
        transformer_depth_middle=middle,
        context_dim=context,
        ff_mult=ff_mult,
    )


def vae_config(state: StateDict, prefix: str = VAE_PREFIX) -> VAEConfig:
    """Autoencoder shape from `encoder.down.N.block.M` and the convolutions at both ends."""
    if f"{prefix}encoder.conv_in.weight" not in state or f"{prefix}decoder.conv_in.weight" not in state:
        raise UnsupportedModelError("no KL autoencoder", f"expected {prefix}encoder.* and {prefix}decoder.* keys")
    conv_in = state[f"{prefix}encoder.conv_in.weight"]
    ch = int(conv_in.shape[0])
    levels = _indices(state, re.escape(f"{prefix}encoder.down.") + r"(\d+)\.")
    mults = tuple(int(state[f"{prefix}encoder.down.{i}.block.0.conv1.weight"].shape[0]) // ch for i in levels)
    blocks = len(_indices(state, re.escape(f"{prefix}encoder.down.0.block.") + r"(\d+)\."))
    post = state[f"{prefix}post_quant_conv.weight"]
    return VAEConfig(
        in_channels=int(conv_in.shape[1]),
        out_channels=int(state[f"{prefix}decoder.conv_out.weight"].shape[0]),
        ch=ch,
        ch_mult=mults,
        num_res_blocks=blocks,
        z_channels=int(state[f"{prefix}decoder.conv_in.weight"].shape[1]),
        embed_dim=int(post.shape[1]),
    )


def clip_config(state: StateDict, prefix: str = CLIP_PREFIX) -> CLIPTextConfig:
    """Text encoder shape from the embeddings and `encoder.layers.N` (keys normalised to `text_model.*`)."""
    base = f"{prefix}text_model."
    tokens = state.get(f"{base}embeddings.token_embedding.weight")
    if tokens is None:
        raise UnsupportedModelError("no CLIP text encoder", f"expected {base}embeddings.token_embedding.weight")
    layers = len(_indices(state, re.escape(f"{base}encoder.layers.") + r"(\d+)\."))
    return CLIPTextConfig(
        vocab_size=int(tokens.shape[0]),
        width=int(tokens.shape[1]),
        layers=layers,
        intermediate=int(state[f"{base}encoder.layers.0.mlp.fc1.weight"].shape[0]),
        max_positions=int(state[f"{base}embeddings.position_embedding.weight"].shape[0]),
    )
