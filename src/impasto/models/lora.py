"""LoRA weights (Hu et al. 2021) for the SD1.x UNet and text encoder, in the formats they are published in.

A LoRA names a layer and gives `down` (rank x in) and `up` (out x rank) factors, optionally `alpha`; the layer's
weight becomes W + strength * (alpha / rank) * up @ down. Layer names come in three spellings, all accepted:
kohya's (`lora_unet_down_blocks_0_attentions_0_proj_in`, `lora_te_text_model_encoder_layers_0_self_attn_q_proj`),
kohya's over LDM names (`lora_unet_input_blocks_1_1_proj_in`), and diffusers/PEFT's
(`unet.down_blocks.0.attentions.0.proj_in.lora_A.weight`, `text_encoder.text_model....lora_B.weight`).
Patching returns a new model that shares every unpatched tensor with the original, which stays unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from impasto.models.errors import UnsupportedModelError
from impasto.models.unet import UNetConfig

log = logging.getLogger(__name__)

M = TypeVar("M", bound=nn.Module)

_RES = {
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


@dataclass(frozen=True, slots=True)
class LoraWeights:
    down: torch.Tensor
    up: torch.Tensor
    alpha: float | None

    def delta(self, shape: torch.Size) -> torch.Tensor:
        rank = self.down.shape[0]
        scale = (self.alpha / rank) if self.alpha is not None else 1.0
        # (out, rank) @ (rank, in * kh * kw), reshaped to the layer's weight
        product = self.up.flatten(1).float() @ self.down.flatten(1).float()
        if product.numel() != shape.numel():
            raise ValueError(f"the LoRA's product has {tuple(product.shape)} elements for a weight of {tuple(shape)}")
        return product.reshape(shape) * scale


def _diffusers_rest(rest: str) -> str:
    for ldm, diffusers in _RES.items():
        if rest == ldm or rest.startswith(ldm + "."):
            return diffusers + rest[len(ldm) :]
    return rest


def unet_diffusers_names(config: UNetConfig) -> dict[str, str]:
    """LDM row prefix -> diffusers module prefix for every block of a UNet of this shape."""
    names = {"input_blocks.0.0": "conv_in", "time_embed.0": "time_embedding.linear_1", "out.2": "conv_out"}
    names["time_embed.2"] = "time_embedding.linear_2"
    row = 1
    for level, count in enumerate(config.num_res_blocks):
        for j in range(count):
            names[f"input_blocks.{row}.0"] = f"down_blocks.{level}.resnets.{j}"
            if config.transformer_depth[level]:
                names[f"input_blocks.{row}.1"] = f"down_blocks.{level}.attentions.{j}"
            row += 1
        if level != len(config.num_res_blocks) - 1:
            names[f"input_blocks.{row}.0.op"] = f"down_blocks.{level}.downsamplers.0.conv"
            row += 1
    names.update({"middle_block.0": "mid_block.resnets.0", "middle_block.1": "mid_block.attentions.0"})
    names["middle_block.2"] = "mid_block.resnets.1"
    row = 0
    levels = len(config.num_res_blocks)
    for up, level in enumerate(reversed(range(levels))):
        for j in range(config.num_res_blocks[level] + 1):
            names[f"output_blocks.{row}.0"] = f"up_blocks.{up}.resnets.{j}"
            if config.transformer_depth[level]:
                names[f"output_blocks.{row}.1"] = f"up_blocks.{up}.attentions.{j}"
            if level and j == config.num_res_blocks[level]:
                slot = 2 if config.transformer_depth[level] else 1
                names[f"output_blocks.{row}.{slot}.conv"] = f"up_blocks.{up}.upsamplers.0.conv"
            row += 1
    return names


def _layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            yield name, module


def lora_targets(model: nn.Module, unet_config: UNetConfig | None) -> dict[str, str]:
    """Every accepted LoRA layer name (without its suffix) -> the model's module path.

    `unet_config` says the model is a UNet (names get `lora_unet_` / `unet.`), None a text encoder (`lora_te_`,
    `text_encoder.`)."""
    targets: dict[str, str] = {}
    rows = unet_diffusers_names(unet_config) if unet_config is not None else {}
    for path, _module in _layers(model):
        if unet_config is None:
            targets["lora_te_" + path.replace(".", "_")] = path
            targets["text_encoder." + path] = path
            continue
        targets["lora_unet_" + path.replace(".", "_")] = path  # kohya over LDM names
        matches = [p for p in rows if path == p or path.startswith(p + ".")]
        if not matches:
            continue
        prefix = max(matches, key=len)
        rest = path[len(prefix) + 1 :] if path != prefix else ""
        diffusers = rows[prefix] + ("." + _diffusers_rest(rest) if rest else "")
        targets["lora_unet_" + diffusers.replace(".", "_")] = path
        targets["unet." + diffusers] = path
    return targets


_SUFFIXES = {
    ".lora_down.weight": "down",
    ".lora_up.weight": "up",
    ".lora_A.weight": "down",
    ".lora_B.weight": "up",
    ".lora.down.weight": "down",
    ".lora.up.weight": "up",
    ".alpha": "alpha",
}


def group_lora(state: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """LoRA tensors grouped by layer name: {name: {"down": ..., "up": ..., "alpha": ...}}."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        for suffix, part in _SUFFIXES.items():
            if key.endswith(suffix):
                groups.setdefault(key[: -len(suffix)], {})[part] = value
                break
    return groups


def apply_lora(
    model: M, groups: Mapping[str, Mapping[str, torch.Tensor]], strength: float, targets: dict[str, str]
) -> tuple[M, set[str]]:
    """A copy of `model` with the LoRA layers in `groups` that `targets` knows added at `strength`; returns it and
    the names it used. Unpatched tensors are shared with `model`."""
    modules = dict(model.named_modules())
    state = dict(model.state_dict(keep_vars=False))
    used: set[str] = set()
    for name, parts in groups.items():
        path = targets.get(name)
        if path is None:
            continue
        if "down" not in parts or "up" not in parts:
            raise UnsupportedModelError("an incomplete LoRA", f"{name} lacks its up or down factor")
        weight = modules[path].weight  # Linear or Conv2d
        alpha = float(parts["alpha"]) if "alpha" in parts else None
        try:
            delta = LoraWeights(parts["down"], parts["up"], alpha).delta(weight.shape)
        except ValueError as error:
            raise UnsupportedModelError("a LoRA for another architecture", f"{name}: {error}") from error
        key = f"{path}.weight"
        state[key] = (state[key].float() + strength * delta.to(state[key].device)).to(state[key].dtype)
        used.add(name)
    if not used:
        return model, used
    return _rebuild(model, state), used


def _rebuild(model: M, state: dict[str, torch.Tensor]) -> M:
    """A model of the same class and config, taking `state`'s tensors as its own (shared where unchanged)."""
    config = getattr(model, "config")  # noqa: B009  # every impasto model keeps its config
    extra = {"eos_token": model.eos_token} if hasattr(model, "eos_token") else {}
    with torch.device("meta"):
        copy = type(model)(config, **extra)
    copy.load_state_dict(state, strict=True, assign=True)
    return copy.eval().requires_grad_(False)
