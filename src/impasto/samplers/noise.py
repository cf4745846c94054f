"""Noise from explicit CPU generators, so one seed gives the same image on any device.

`initial_noise` is the latent noise a KSampler starts from (ComfyUI's convention: one generator seeded with the
seed, one draw of the whole latent batch, float32 on the CPU); `cpu_noise_sampler` gives ancestral samplers
their per-step noise the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# (sigma, sigma_next) -> noise of x's shape, dtype and device
NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def initial_noise(seed: int, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32, device="cpu")


def cpu_noise_sampler(x: torch.Tensor, seed: int) -> NoiseSampler:
    """Fresh standard-normal noise at every call, from one CPU generator seeded with `seed`."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    shape, dtype, device = tuple(x.shape), x.dtype, x.device

    def sampler(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)

    return sampler
