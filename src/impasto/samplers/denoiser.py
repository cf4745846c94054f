"""Denoisers D(x, sigma) -> x0 estimate, the one interface every sampler calls.

`EpsDenoiser` wraps an eps-prediction network trained on a discrete schedule (k-diffusion's CompVisDenoiser,
after Karras et al. 2022, eq. 7): the input is scaled by 1 / sqrt(sigma^2 + 1) and D = x - sigma * eps.
`CFGDenoiser` applies classifier-free guidance (Ho & Salimans 2022) over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from impasto.samplers.discrete import DiscreteSchedule


class Denoiser(Protocol):
    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """x (b, c, h, w) at noise level sigma (b,) -> the denoised estimate, same shape as x."""
        ...


# An eps-prediction network: (scaled x, training timestep (b,), conditioning) -> predicted noise.
EpsModel = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


@dataclass(frozen=True)
class EpsDenoiser:
    """D(x, sigma, cond) for an eps-prediction model on a discrete schedule."""

    model: EpsModel
    schedule: DiscreteSchedule

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        eps = self.model(x / (s**2 + 1) ** 0.5, self.schedule.timestep(sigma), cond)
        return x - eps.to(x.dtype) * s


CondDenoiser = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


@dataclass(frozen=True)
class CFGDenoiser:
    """uncond + scale * (cond - uncond). Both halves run as one batch when their conditionings stack
    (`torch.cat` along the batch); at scale 1 the unconditional pass is skipped."""

    inner: CondDenoiser
    cond: torch.Tensor
    uncond: torch.Tensor | None
    scale: float

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.uncond is None or self.scale == 1.0:
            return self.inner(x, sigma, _batch(self.cond, x.shape[0]))
        cond, uncond = _batch(self.cond, x.shape[0]), _batch(self.uncond, x.shape[0])
        if cond.shape[1:] == uncond.shape[1:]:
            both = self.inner(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([cond, uncond]))
            denoised_cond, denoised_uncond = both.chunk(2)
        else:  # different token counts (prompts of different chunk counts): two passes
            denoised_cond = self.inner(x, sigma, cond)
            denoised_uncond = self.inner(x, sigma, uncond)
        return denoised_uncond + (denoised_cond - denoised_uncond) * self.scale


def _batch(cond: torch.Tensor, batch: int) -> torch.Tensor:
    """A conditioning of batch 1 serves every latent of the batch."""
    if cond.shape[0] == batch:
        return cond
    if cond.shape[0] == 1:
        return cond.expand(batch, *cond.shape[1:])
    raise ValueError(f"conditioning batch {cond.shape[0]} does not match latent batch {batch}")
