"""What the MODEL, CLIP and VAE sockets carry between impasto's SD1.x nodes.

These are impasto's own records, not ComfyUI's ModelPatcher/CLIP/VAE classes: nodes written against those
APIs do not receive them. The text conditioning (CONDITIONING) keeps ComfyUI's shape, a list of
`[tensor (1, tokens, width), {"pooled_output": tensor (1, width), ...}]` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from impasto.models.clip import CLIPTextModel
    from impasto.models.unet import UNetModel
    from impasto.models.vae import AutoencoderKL
    from impasto.nodes.sd.previews import LatentPreviewer
    from impasto.samplers.discrete import DiscreteSchedule

SD1_LATENT_SCALE = 0.18215  # the KL autoencoder's latents are scaled by this before the UNet sees them

Conditioning = list[list[Any]]  # [[tensor, {"pooled_output": ...}], ...]


@dataclass(frozen=True)
class SDModel:
    """MODEL: the UNet, the training noise schedule and where it computes."""

    unet: UNetModel
    schedule: DiscreteSchedule
    device: torch.device
    dtype: torch.dtype
    latent_scale: float = SD1_LATENT_SCALE
    previewer: LatentPreviewer | None = None  # None: no previews (a UNet loaded without its autoencoder)


@dataclass(frozen=True)
class SDClip:
    """CLIP: the text encoder and the layer CLIPSetLastLayer chose (-1: the last)."""

    model: CLIPTextModel
    device: torch.device
    last_layer: int = -1

    def with_last_layer(self, last_layer: int) -> SDClip:
        return replace(self, last_layer=last_layer)


@dataclass(frozen=True)
class SDVae:
    """VAE: the autoencoder; images go in and out as IMAGE tensors [B, H, W, C] in 0..1."""

    model: AutoencoderKL
    device: torch.device
