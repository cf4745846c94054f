"""Sigma schedules by ComfyUI's `scheduler` name: a step count -> a descending sigma tensor ending in 0.

Each takes the model's discrete training schedule and `steps`, and returns float32 sigmas of length
steps + 1 (ddim_uniform and beta may give fewer when steps do not divide the training timesteps, as in
ComfyUI).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from impasto.samplers._beta import beta_ppf
from impasto.samplers.discrete import DiscreteSchedule

Scheduler = Callable[[DiscreteSchedule, int], torch.Tensor]


def _with_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas.float(), sigmas.new_zeros(1, dtype=torch.float32)])


def karras_sigmas(schedule: DiscreteSchedule, steps: int, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022 (eq. 5): sigmas evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = schedule.sigma_min ** (1 / rho), schedule.sigma_max ** (1 / rho)
    return _with_zero((hi + ramp * (lo - hi)) ** rho)


def exponential_sigmas(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Sigmas evenly spaced in log sigma."""
    logs = torch.linspace(math.log(schedule.sigma_max), math.log(schedule.sigma_min), steps, dtype=torch.float64)
    return _with_zero(logs.exp())


def _timestep_sigmas(schedule: DiscreteSchedule, steps: int, sgm: bool) -> torch.Tensor:
    start = float(schedule.timestep(torch.tensor(schedule.sigma_max)))
    end = float(schedule.timestep(torch.tensor(schedule.sigma_min)))
    # sgm_uniform (SGM/SDXL-style) spaces steps + 1 points and drops the last, so the final step is not sigma_min.
    timesteps = torch.linspace(start, end, steps + 1)[:-1] if sgm else torch.linspace(start, end, steps)
    return _with_zero(schedule.sigma(timesteps))


def normal_sigmas(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Timesteps evenly spaced from the last training timestep to the first, mapped to sigmas."""
    return _timestep_sigmas(schedule, steps, sgm=False)


def sgm_uniform_sigmas(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    return _timestep_sigmas(schedule, steps, sgm=True)


def simple_sigmas(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Every (timesteps / steps)-th training sigma from the top (DDIM's "trailing" spacing)."""
    n = len(schedule.sigmas)
    stride = n / steps
    picked = [float(schedule.sigmas[-(1 + int(i * stride))]) for i in range(steps)]
    return _with_zero(torch.tensor(picked))


def ddim_uniform_sigmas(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """DDIM's uniform ("leading", offset 1) timesteps 1, 1 + k, 1 + 2k, ... with k = timesteps // steps."""
    stride = max(len(schedule.sigmas) // steps, 1)
    picked = [float(s) for s in schedule.sigmas[1::stride]]
    return torch.tensor([*reversed(picked), 0.0], dtype=torch.float32)


def beta_sigmas(schedule: DiscreteSchedule, steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Training timesteps at the Beta(alpha, beta) quantiles (Lee et al. 2024, "Beta Sampling is All You Need"),
    rounded to whole timesteps, repeats dropped."""
    last = len(schedule.sigmas) - 1
    picked: list[float] = []
    previous = -1
    for i in range(steps):
        t = round(beta_ppf(1.0 - i / steps, alpha, beta) * last)
        if t != previous:
            picked.append(float(schedule.sigmas[t]))
        previous = t
    return _with_zero(torch.tensor(picked))


SCHEDULERS: dict[str, Scheduler] = {
    "simple": simple_sigmas,
    "sgm_uniform": sgm_uniform_sigmas,
    "karras": karras_sigmas,
    "exponential": exponential_sigmas,
    "ddim_uniform": ddim_uniform_sigmas,
    "beta": beta_sigmas,
    "normal": normal_sigmas,
}


def calculate_sigmas(
    schedule: DiscreteSchedule, scheduler: str, steps: int, denoise: float = 1.0, discard_penultimate: bool = False
) -> torch.Tensor:
    """KSampler's sigmas: with denoise < 1 the schedule is made for steps / denoise steps and only its last
    steps + 1 sigmas are kept (img2img). `discard_penultimate` (dpm_2 and its ancestral form) schedules one step
    more and drops the second-to-last sigma."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; known: {', '.join(SCHEDULERS)}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if denoise <= 0.0:
        return torch.zeros(0)
    total = steps if denoise > 0.9999 else int(steps / denoise)
    extra = 1 if discard_penultimate else 0
    sigmas = SCHEDULERS[scheduler](schedule, total + extra)
    if discard_penultimate:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas[-(steps + 1) :]
