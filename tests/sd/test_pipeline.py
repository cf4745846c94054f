"""impasto's UNet under its eps denoiser and CFG, sampled with euler, against diffusers' UNet driven by
EulerDiscreteScheduler: the same weights, the same timesteps (normal schedule, 10 steps: whole timesteps)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from diffusers import EulerDiscreteScheduler
from torch.testing import assert_close

from impasto.models.checkpoint import load_sd1
from impasto.samplers.denoiser import CFGDenoiser, EpsDenoiser
from impasto.samplers.discrete import DiscreteSchedule
from impasto.samplers.noise import initial_noise
from impasto.samplers.sampling import sample
from impasto.samplers.schedules import calculate_sigmas

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def test_ten_euler_steps_with_cfg_match_diffusers(tiny_sd, generator):
    models = load_sd1(tiny_sd.path)
    schedule = DiscreteSchedule()
    cond = torch.randn(1, 77, 128, generator=generator)
    uncond = torch.randn(1, 77, 128, generator=generator)
    scale = 6.0
    steps = 10
    sigmas = calculate_sigmas(schedule, "normal", steps)
    noise = initial_noise(42, (1, 4, 8, 8))

    denoiser = CFGDenoiser(EpsDenoiser(models.unet, schedule), cond, uncond, scale)
    ours = sample("euler", denoiser, noise * sigmas[0], sigmas)

    scheduler: Any = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="linspace"
    )
    scheduler.set_timesteps(steps)
    assert_close(scheduler.sigmas.float(), sigmas, rtol=2e-6, atol=1e-6)
    x = noise * scheduler.sigmas[0]
    with torch.no_grad():
        for t in scheduler.timesteps:
            x_in = scheduler.scale_model_input(torch.cat([x, x]), t)
            eps = tiny_sd.unet(x_in, t, encoder_hidden_states=torch.cat([cond, uncond])).sample
            eps_cond, eps_uncond = eps.chunk(2)
            x = scheduler.step(eps_uncond + scale * (eps_cond - eps_uncond), t, x).prev_sample
    assert x.abs().mean() > 0.1
    assert_close(ours, x, atol=1e-4, rtol=1e-4)
