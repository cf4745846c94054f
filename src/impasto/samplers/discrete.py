"""The discrete noise schedule an SD1.x model was trained on, seen as continuous sigmas (Karras et al. 2022).

DDPM's alphas-cumprod become sigma_t = sqrt((1 - a_t) / a_t); `timestep` maps a sigma back to the nearest
training timestep and `sigma` maps a (possibly fractional) timestep to a sigma by log-linear interpolation, as
ComfyUI's discrete model sampling does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class DiscreteSchedule:
    """SD1.x: 1000 steps of the "scaled linear" beta schedule from 0.00085 to 0.012."""

    timesteps: int = 1000
    linear_start: float = 0.00085
    linear_end: float = 0.012
    sigmas: torch.Tensor = field(init=False, repr=False)  # (timesteps,), float32, ascending
    log_sigmas: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        betas = torch.linspace(self.linear_start**0.5, self.linear_end**0.5, self.timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).float()
        object.__setattr__(self, "sigmas", sigmas)
        object.__setattr__(self, "log_sigmas", sigmas.log())

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The nearest training timestep (in log sigma) of each sigma, as a float tensor of sigma's shape."""
        log_sigma = sigma.detach().float().log().to(self.log_sigmas.device)
        distances = (log_sigma.reshape(1, -1) - self.log_sigmas[:, None]).abs()
        return distances.argmin(dim=0).reshape(sigma.shape).float().to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """Sigma at a timestep, interpolating log sigma between training timesteps."""
        t = timestep.detach().float().cpu().clamp(0, self.timesteps - 1)
        low, high = t.floor().long(), t.ceil().long()
        w = t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp().to(timestep.device)
