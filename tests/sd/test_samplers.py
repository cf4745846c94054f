"""Sampler trajectories against diffusers' equivalent schedulers and against exact solutions.

The model is an analytic eps-prediction function of (scaled x, sigma), so both sides see the same model and
only the update rules differ. Tolerances: float32 on both sides; where diffusers derives the sigma of a
model call from a timestep, that round trip costs about 1e-6 relative, hence 1e-4 on the final samples.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LMSDiscreteScheduler,
)
from torch.testing import assert_close

from impasto.samplers.denoiser import CFGDenoiser, EpsDenoiser
from impasto.samplers.discrete import DiscreteSchedule
from impasto.samplers.noise import cpu_noise_sampler, initial_noise
from impasto.samplers.sampling import SAMPLERS, SamplerOptions, Step, sample

# diffusers' schedulers mix numpy and torch in ways numpy 2 warns about.
pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning"),
]

SD1 = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
SCHEDULE = DiscreteSchedule()
LOG_SIGMAS = np.log(SCHEDULE.sigmas.double().numpy())


def eps_model(x_in: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A smooth nonlinear stand-in for a UNet, in the eps parametrisation."""
    s = sigma.reshape(-1, 1, 1, 1)
    return torch.tanh(1.3 * x_in + 0.2) * (0.6 + 0.4 * s / (1 + s)) + 0.05 * x_in.roll(1, dims=-1)


def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = sigma.reshape(-1, 1, 1, 1)
    return x - s * eps_model(x / (s**2 + 1) ** 0.5, sigma)


def sigma_of_timestep(t: torch.Tensor) -> torch.Tensor:
    """Inverse of diffusers' sigma -> timestep interpolation (log sigma, linear in t)."""
    return torch.tensor([np.exp(np.interp(float(t), np.arange(1000), LOG_SIGMAS))], dtype=torch.float32)


def run_diffusers(scheduler: Any, x: torch.Tensor, generator=None, vp: bool = False) -> torch.Tensor:
    """diffusers' denoising loop with the analytic model. `vp` schedulers hold x / sqrt(1 + sigma^2) and call
    the model at rounded timesteps, so their sigma comes from their own table."""
    accepts_generator = "generator" in inspect.signature(scheduler.step).parameters
    for i, t in enumerate(scheduler.timesteps):
        x_in = scheduler.scale_model_input(x, t)
        sigma = scheduler.sigmas[i].reshape(1).float() if vp else sigma_of_timestep(t)
        kwargs = {"generator": generator} if accepts_generator else {}
        x = scheduler.step(eps_model(x_in, sigma), t, x, **kwargs).prev_sample
    return x


def base_sigmas(steps: int, **config) -> torch.Tensor:
    scheduler: Any = EulerDiscreteScheduler(**SD1, **config)
    scheduler.set_timesteps(steps)
    return scheduler.sigmas.float()


CASES = [
    ("euler", EulerDiscreteScheduler, {"use_karras_sigmas": True}),
    ("euler", EulerDiscreteScheduler, {"timestep_spacing": "trailing"}),
    ("euler_ancestral", EulerAncestralDiscreteScheduler, {}),
    ("heun", HeunDiscreteScheduler, {"use_karras_sigmas": True}),
    ("dpm_2", KDPM2DiscreteScheduler, {"use_karras_sigmas": True}),
    ("dpm_2_ancestral", KDPM2AncestralDiscreteScheduler, {"use_karras_sigmas": True}),
    ("lms", LMSDiscreteScheduler, {"use_karras_sigmas": True}),
    ("dpmpp_2m", DPMSolverMultistepScheduler, {"use_karras_sigmas": True, "final_sigmas_type": "zero"}),
]


@pytest.mark.parametrize(("name", "cls", "config"), CASES, ids=[f"{c[0]}-{c[1].__name__}" for c in CASES])
def test_trajectory_matches_diffusers(name, cls, config):
    steps = 12
    sigmas = base_sigmas(steps, **{k: v for k, v in config.items() if k != "final_sigmas_type"})
    noise = initial_noise(7, (1, 4, 6, 6))
    scheduler: Any = cls(**SD1, **config)
    scheduler.set_timesteps(steps)
    vp = cls is DPMSolverMultistepScheduler
    start = noise * sigmas[0] / ((sigmas[0] ** 2 + 1) ** 0.5 if vp else 1)
    expected = run_diffusers(scheduler, start, generator=torch.Generator().manual_seed(99), vp=vp)
    ours = sample(name, denoiser, noise * sigmas[0], sigmas, SamplerOptions(noise_sampler=cpu_noise_sampler(noise, 99)))
    assert expected.abs().mean() > 0.1
    assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_ddim_is_diffusers_ddim_on_ddim_uniform_sigmas():
    from impasto.samplers.schedules import SCHEDULERS

    steps = 20
    sigmas = SCHEDULERS["ddim_uniform"](SCHEDULE, steps)
    scheduler: Any = DDIMScheduler(**SD1, steps_offset=1, set_alpha_to_one=True, clip_sample=False)
    scheduler.set_timesteps(steps)
    noise = initial_noise(3, (2, 4, 5, 5))
    expected = noise.clone()  # DDIM holds x / sqrt(1 + sigma^2); it starts from unit-variance noise
    for t in scheduler.timesteps:
        sigma = SCHEDULE.sigmas[int(t)].reshape(1)
        expected = scheduler.step(eps_model(expected, sigma), t, expected).prev_sample
    ours = sample("ddim", denoiser, noise * (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def gaussian_denoiser(scale: float):
    """The exact denoiser for data ~ N(0, scale^2): D(x, sigma) = x * scale^2 / (scale^2 + sigma^2)."""

    def d(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1, 1, 1)
        return x * scale**2 / (scale**2 + s**2)

    return d


ORDERS = {"euler": 1, "ddim": 1, "heun": 2, "dpm_2": 2, "lms": 2, "dpmpp_2m": 2, "dpmpp_2s_ancestral": 2}


@pytest.mark.parametrize(("name", "order"), ORDERS.items())
def test_deterministic_samplers_converge_to_the_exact_ode_solution(name, order):
    # For Gaussian data the probability-flow ODE maps x(sigma_max) to x * scale / sqrt(scale^2 + sigma_max^2).
    scale = 0.5
    from impasto.samplers.schedules import karras_sigmas

    x = initial_noise(1, (1, 1, 8, 8)) * SCHEDULE.sigma_max
    exact = x * scale / (scale**2 + SCHEDULE.sigma_max**2) ** 0.5
    options = SamplerOptions(eta=0.0)
    errors = []
    for steps in (10, 40):
        out = sample(name, gaussian_denoiser(scale), x, karras_sigmas(SCHEDULE, steps), options)
        errors.append(float((out - exact).abs().max() / exact.abs().max()))
    # Four times the steps: the error falls by about 4^order (first order: > 3x; second order: > 8x, the
    # first-order final step to sigma 0 keeping it below 16x).
    assert errors[0] / errors[1] > (3 if order == 1 else 8), errors
    assert errors[1] < (0.05 if order == 1 else 0.005), errors


@pytest.mark.parametrize("name", ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral"])
def test_stochastic_samplers_draw_the_data_distribution(name):
    # Started from N(0, sigma_max^2 + scale^2), a correct ancestral sampler ends at N(0, scale^2).
    scale = 0.5
    from impasto.samplers.schedules import karras_sigmas

    sigmas = karras_sigmas(SCHEDULE, 100)
    x = initial_noise(2, (1, 1, 128, 128)) * (SCHEDULE.sigma_max**2 + scale**2) ** 0.5
    out = sample(name, gaussian_denoiser(scale), x, sigmas, SamplerOptions(noise_sampler=cpu_noise_sampler(x, 5)))
    assert float(out.std()) == pytest.approx(scale, rel=0.04)  # 16k samples; Euler's bias at 100 steps ~3%
    assert abs(float(out.mean())) < 0.02


def test_lcm_jumps_to_the_estimate_and_renoises_to_the_next_sigma():
    sigmas = torch.tensor([10.0, 2.0, 0.0])
    x = initial_noise(0, (1, 4, 3, 3)) * 10
    d = gaussian_denoiser(0.5)
    first_noise = cpu_noise_sampler(x, 8)(sigmas[0], sigmas[1])
    expected = d(d(x, sigmas[:1]) + first_noise * 2.0, sigmas[1:2])
    out = sample("lcm", d, x, sigmas, SamplerOptions(noise_sampler=cpu_noise_sampler(x, 8)))
    assert_close(out, expected)


def test_the_callback_sees_every_step_and_an_exception_from_it_stops_sampling():
    sigmas = base_sigmas(8)
    seen: list[Step] = []
    for name in SAMPLERS:
        seen.clear()
        sample(name, denoiser, initial_noise(0, (1, 4, 4, 4)) * sigmas[0], sigmas, SamplerOptions(seen.append))
        assert [s.index for s in seen] == list(range(8)), name
        assert all(s.total == 8 and s.denoised.shape == (1, 4, 4, 4) for s in seen), name

    class Stop(Exception):
        pass

    calls = []

    def model(x, sigma):
        calls.append(float(sigma[0]))
        return denoiser(x, sigma)

    def stop_at_three(step: Step) -> None:
        if step.index == 3:
            raise Stop

    with pytest.raises(Stop):
        sample("euler", model, initial_noise(0, (1, 4, 4, 4)), sigmas, SamplerOptions(stop_at_three))
    assert len(calls) == 4


def test_noise_comes_from_the_seed_not_the_global_generator():
    sigmas = base_sigmas(6)
    x = initial_noise(11, (1, 4, 4, 4)) * sigmas[0]
    state = torch.get_rng_state()
    first = sample("euler_ancestral", denoiser, x, sigmas, SamplerOptions(noise_sampler=cpu_noise_sampler(x, 4)))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12345)
    again = sample("euler_ancestral", denoiser, x, sigmas, SamplerOptions(noise_sampler=cpu_noise_sampler(x, 4)))
    other = sample("euler_ancestral", denoiser, x, sigmas, SamplerOptions(noise_sampler=cpu_noise_sampler(x, 5)))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert torch.equal(initial_noise(11, (1, 4, 4, 4)), initial_noise(11, (1, 4, 4, 4)))


def test_cfg_batches_cond_and_uncond_and_skips_uncond_at_scale_one():
    batches = []

    def inner(x, sigma, cond):
        batches.append(x.shape[0])
        return x * cond.mean(dim=(1, 2)).reshape(-1, 1, 1, 1)

    cond, uncond = torch.full((1, 77, 8), 2.0), torch.full((1, 77, 8), 0.5)
    x, sigma = torch.ones(2, 4, 3, 3), torch.ones(2)
    guided = CFGDenoiser(inner, cond, uncond, 7.5)(x, sigma)
    assert batches == [4]
    assert_close(guided, torch.full_like(x, 0.5 + (2.0 - 0.5) * 7.5))
    batches.clear()
    long_uncond = torch.full((1, 154, 8), 0.5)
    assert_close(CFGDenoiser(inner, cond, long_uncond, 7.5)(x, sigma), guided)
    assert batches == [2, 2]
    batches.clear()
    assert_close(CFGDenoiser(inner, cond, uncond, 1.0)(x, sigma), torch.full_like(x, 2.0))
    assert batches == [2]
    with pytest.raises(ValueError, match="conditioning batch 3"):
        CFGDenoiser(inner, torch.ones(3, 77, 8), None, 1.0)(x, sigma)


def test_unknown_sampler_is_a_value_error():
    with pytest.raises(ValueError, match="unknown sampler 'euler_a'"):
        sample("euler_a", denoiser, torch.zeros(1, 4, 2, 2), base_sigmas(2))


def test_eps_denoiser_feeds_the_model_scaled_input_and_its_training_timestep():
    seen: dict[str, Any] = {}

    def model(x_in, t, cond):
        seen.update(x_in=x_in, t=t, cond=cond)
        return torch.ones_like(x_in)

    sigma = SCHEDULE.sigmas[torch.tensor([250, 999])]
    x = torch.full((2, 4, 2, 2), 3.0)
    out = EpsDenoiser(model, SCHEDULE)(x, sigma, "ctx")
    assert seen["t"].tolist() == [250.0, 999.0] and seen["cond"] == "ctx"
    assert_close(seen["x_in"], x / (sigma.reshape(-1, 1, 1, 1) ** 2 + 1) ** 0.5)
    assert_close(out, x - sigma.reshape(-1, 1, 1, 1))


@pytest.mark.parametrize("name", ["dpmpp_sde", "dpmpp_2m_sde"])
def test_sde_samplers_draw_the_data_distribution(name):
    from impasto.samplers.schedules import karras_sigmas

    scale = 0.5
    sigmas = karras_sigmas(SCHEDULE, 40)
    x = initial_noise(2, (1, 1, 128, 128)) * (SCHEDULE.sigma_max**2 + scale**2) ** 0.5
    out = sample(name, gaussian_denoiser(scale), x, sigmas, SamplerOptions(seed=3))
    assert float(out.std()) == pytest.approx(scale, rel=0.03)
    assert abs(float(out.mean())) < 0.02
    again = sample(name, gaussian_denoiser(scale), x, sigmas, SamplerOptions(seed=3))
    assert torch.equal(out, again)


def test_dpmpp_2m_sde_matches_diffusers_sde_dpmsolver_with_the_same_noise():
    steps = 12
    sigmas = base_sigmas(steps, use_karras_sigmas=True)
    noise = initial_noise(7, (1, 4, 6, 6))
    scheduler: Any = DPMSolverMultistepScheduler(
        **SD1, algorithm_type="sde-dpmsolver++", use_karras_sigmas=True, final_sigmas_type="zero"
    )
    scheduler.set_timesteps(steps)
    start = noise * sigmas[0] / (sigmas[0] ** 2 + 1) ** 0.5
    expected = run_diffusers(scheduler, start, generator=torch.Generator().manual_seed(99), vp=True)
    options = SamplerOptions(noise_sampler=cpu_noise_sampler(noise, 99))
    ours = sample("dpmpp_2m_sde", denoiser, noise * sigmas[0], sigmas, options)
    assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def sigma_keyed_noise(shape: tuple[int, ...]):
    """Noise that is a function of the (sigma, sigma_next) pair rounded to 4 decimals: diffusers queries its noise
    at exp(-log(sigma)), which float32 rounds one ulp away from sigma on some CPUs, and a Brownian tree answers
    such a query with a slightly different sample."""

    def sampler(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        seed = round(float(sigma) * 1e4) * 1_000_003 + round(float(sigma_next) * 1e4)
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    return sampler


def test_dpmpp_sde_matches_diffusers_dpm_solver_sde():
    from diffusers import DPMSolverSDEScheduler

    steps = 10
    sigmas = base_sigmas(steps, use_karras_sigmas=True)
    noise = initial_noise(7, (1, 4, 6, 6))
    scheduler: Any = DPMSolverSDEScheduler(**SD1, use_karras_sigmas=True)
    scheduler.set_timesteps(steps)
    scheduler.noise_sampler = sigma_keyed_noise((1, 4, 6, 6))  # made on the first step unless set
    expected = run_diffusers(scheduler, noise * sigmas[0])
    options = SamplerOptions(noise_sampler=sigma_keyed_noise((1, 4, 6, 6)))
    ours = sample("dpmpp_sde", denoiser, noise * sigmas[0], sigmas, options)
    assert_close(ours, expected, atol=1e-4, rtol=1e-4)


# diffusers queries its Brownian tree a rounding error outside the tree's interval; torchsde warns and clamps.
@pytest.mark.filterwarnings("ignore:Should have t:UserWarning")
def test_brownian_noise_is_diffusers_brownian_tree_for_the_same_seed():
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler as DiffusersTree

    from impasto.samplers.noise import BrownianTreeNoiseSampler

    x = torch.zeros(1, 4, 6, 6)
    sigmas = base_sigmas(10, use_karras_sigmas=True)
    low, high = float(sigmas[sigmas > 0].min()), float(sigmas.max())
    theirs, ours = DiffusersTree(x, low, high, 21), BrownianTreeNoiseSampler(x, low, high, 21)
    for sigma, sigma_next in itertools.pairwise(sigmas[:-1]):  # the last sigma is 0, outside the tree
        assert_close(ours(sigma, sigma_next), theirs(sigma, sigma_next), atol=1e-5, rtol=1e-5)
