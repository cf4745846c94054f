"""Noise from explicit CPU generators, so one seed gives the same image on any device.

`initial_noise` is the latent noise a KSampler starts from (ComfyUI's convention: one generator seeded with the
seed, one draw of the whole latent batch, float32 on the CPU); `cpu_noise_sampler` gives ancestral samplers
their per-step noise the same way.
"""

from __future__ import annotations

import math
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


class BrownianTreeNoiseSampler:
    """Noise for SDE samplers from one Brownian motion over [sigma_min, sigma_max] (torchsde's BrownianTree,
    Li et al. 2020), queried as normalised increments: the noise between two sigmas is the same however the
    interval is split, so results change smoothly with the step count. The tree lives on the CPU, seeded."""

    def __init__(self, x: torch.Tensor, sigma_min: float, sigma_max: float, seed: int) -> None:
        import torchsde  # type: ignore[import-untyped]  # torchsde ships no type information

        self._shape_of = x
        # The tree resolves times to 6 decimals (tol=1e-6) and rounds its ends the same way.
        self._range = (round(float(sigma_min), 6), round(float(sigma_max), 6))
        self._tree = torchsde.BrownianTree(
            self._range[0], torch.zeros(tuple(x.shape), dtype=torch.float32), self._range[1], tol=1e-6, entropy=seed
        )

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        a, b = float(sigma), float(sigma_next)
        low, high, sign = (a, b, 1.0) if a <= b else (b, a, -1.0)
        # Sigmas pass through float32 on the way here; keep the query inside the tree's interval.
        start, end = max(low, self._range[0]), min(high, self._range[1])
        increment: torch.Tensor = self._tree(start, end) * sign
        # An increment of std sqrt(|b - a|), rescaled to unit variance, oriented from sigma to sigma_next.
        noise = increment / math.sqrt(abs(b - a))
        return noise.to(device=self._shape_of.device, dtype=self._shape_of.dtype)
