"""Cheap previews of a latent while it is sampled: a per-pixel affine map from latent channels to RGB.

The map is fitted to the checkpoint's own decoder rather than taken from a table: constant latents (zero, and
each channel at -3 and +3 in the autoencoder's units, SD1.x latents having a standard deviation near 5)
are decoded once, the mean colour of each decoded square is taken, and least squares gives the 3 x C matrix and
the bias. A preview then costs one small matrix product per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from impasto.models.vae import AutoencoderKL

_LEVEL = 3.0
_SIDE = 8  # latent pixels of each probe


@dataclass(frozen=True, slots=True)
class LatentProjection:
    """rgb = weight @ latent + bias, per pixel, in [-1, 1] before clamping."""

    weight: torch.Tensor  # (3, C)
    bias: torch.Tensor  # (3,)

    def to_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """(C, h, w) latent in the autoencoder's units -> (h, w, 3) uint8."""
        z = latent.detach().float().cpu()
        rgb = torch.einsum("kc,chw->hwk", self.weight, z) + self.bias
        return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def fit_projection(vae: AutoencoderKL) -> LatentProjection:
    """Least-squares fit of the decoder's colour response to constant latents (2C + 1 small decodes)."""
    channels = vae.config.embed_dim
    probes = [torch.zeros(channels)]
    for c in range(channels):
        for sign in (-1.0, 1.0):
            probe = torch.zeros(channels)
            probe[c] = sign * _LEVEL
            probes.append(probe)
    inputs = torch.stack(probes)  # (n, C)
    latents = inputs[:, :, None, None].expand(-1, -1, _SIDE, _SIDE)
    device = next(vae.parameters()).device
    with torch.no_grad():
        decoded = vae.decode(latents.to(device)).float().cpu()  # (n, 3, H, W)
    margin = decoded.shape[-1] // 4  # the centre, away from the padding at the borders
    colours = decoded[:, :, margin:-margin, margin:-margin].mean(dim=(2, 3))  # (n, 3)
    design = torch.cat([inputs, torch.ones(len(probes), 1)], dim=1).double()  # (n, C + 1)
    solution = torch.linalg.lstsq(design, colours.double()).solution  # (C + 1, 3)
    return LatentProjection(weight=solution[:channels].T.float().contiguous(), bias=solution[channels].float())
