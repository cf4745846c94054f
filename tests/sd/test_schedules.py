"""Sigma schedules: identical to diffusers' where the math is the same, and to scipy's beta quantiles."""

from __future__ import annotations

import math
from typing import Any

import pytest
import scipy.stats  # type: ignore[import-untyped]  # scipy ships no type information
import torch
from diffusers import EulerDiscreteScheduler
from torch.testing import assert_close

from impasto.samplers._beta import beta_cdf, beta_ppf
from impasto.samplers.discrete import DiscreteSchedule
from impasto.samplers.schedules import SCHEDULERS, calculate_sigmas

# diffusers' schedulers call np.array on torch tensors, which numpy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

SD1 = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
# diffusers computes the training sigmas' cumulative product in float32, impasto in float64 rounded to float32:
# the tables agree to 2e-6, schedules derived from their ends (karras raises them to 1/7 and 7) to 1e-5.
SAME: dict[str, Any] = {"rtol": 2e-6, "atol": 1e-6}
DERIVED: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-6}


@pytest.fixture(scope="module")
def schedule() -> DiscreteSchedule:
    return DiscreteSchedule()


def _diffusers(steps: int, **config) -> torch.Tensor:
    scheduler: Any = EulerDiscreteScheduler(**SD1, **config)
    scheduler.set_timesteps(steps)
    return scheduler.sigmas.float()


def test_training_sigmas_match_diffusers_and_round_trip(schedule):
    reference: Any = EulerDiscreteScheduler(**SD1)
    expected = ((1 - reference.alphas_cumprod) / reference.alphas_cumprod) ** 0.5
    assert_close(schedule.sigmas, expected.float(), **SAME)
    assert schedule.sigma_max == pytest.approx(14.6146, abs=1e-4)
    assert schedule.sigma_min == pytest.approx(0.029168, abs=1e-5)
    steps = torch.tensor([0, 1, 500, 998, 999])
    assert torch.equal(schedule.timestep(schedule.sigmas[steps]), steps.float())
    assert_close(schedule.sigma(steps.float()), schedule.sigmas[steps])
    midpoint = schedule.sigma(torch.tensor([10.5]))
    assert_close(midpoint, (schedule.sigmas[10] * schedule.sigmas[11]).sqrt().reshape(1))


@pytest.mark.parametrize("steps", [2, 7, 20])
def test_karras_and_exponential_match_diffusers(schedule, steps):
    assert_close(SCHEDULERS["karras"](schedule, steps), _diffusers(steps, use_karras_sigmas=True), **DERIVED)
    exponential = _diffusers(steps, use_exponential_sigmas=True)
    assert_close(SCHEDULERS["exponential"](schedule, steps), exponential, **DERIVED)


@pytest.mark.parametrize("steps", [4, 10, 28])  # 999 / (steps - 1) whole: every timestep is a training one
def test_normal_matches_diffusers_linspace_spacing(schedule, steps):
    assert_close(SCHEDULERS["normal"](schedule, steps), _diffusers(steps, timestep_spacing="linspace"), **SAME)


@pytest.mark.parametrize("steps", [10, 20, 25])  # steps dividing 1000
def test_simple_matches_diffusers_trailing_spacing(schedule, steps):
    assert_close(SCHEDULERS["simple"](schedule, steps), _diffusers(steps, timestep_spacing="trailing"), **SAME)


@pytest.mark.parametrize("steps", [10, 20, 50])
def test_ddim_uniform_matches_diffusers_leading_spacing(schedule, steps):
    expected = _diffusers(steps, timestep_spacing="leading", steps_offset=1)
    assert_close(SCHEDULERS["ddim_uniform"](schedule, steps), expected, **SAME)


def test_sgm_uniform_spaces_steps_plus_one_timesteps(schedule):
    sigmas = SCHEDULERS["sgm_uniform"](schedule, 10)
    assert len(sigmas) == 11 and sigmas[-1] == 0
    assert float(sigmas[0]) == pytest.approx(schedule.sigma_max, rel=1e-6)
    assert_close(sigmas[1:-1], schedule.sigma(torch.linspace(999, 0, 11)[1:-1]))
    assert float(sigmas[-2]) > schedule.sigma_min  # unlike normal, the last step is not at sigma_min


def test_beta_quantiles_match_scipy():
    for a, b in [(0.6, 0.6), (1.0, 3.0), (2.5, 0.7), (0.5, 0.5)]:
        for q in [0.0, 1e-6, 0.05, 0.3, 0.5, 0.77, 0.999999, 1.0]:
            assert beta_ppf(q, a, b) == pytest.approx(float(scipy.stats.beta.ppf(q, a, b)), abs=1e-11)
        for x in [1e-9, 0.1, 0.5, 0.9, 1 - 1e-9]:
            assert beta_cdf(x, a, b) == pytest.approx(float(scipy.stats.beta.cdf(x, a, b)), abs=1e-11)
    assert beta_ppf(0.3, 1.0, 2.0) == pytest.approx(1 - math.sqrt(0.7), abs=1e-14)  # CDF 1 - (1 - x)^2


@pytest.mark.parametrize("steps", [5, 20, 33])
def test_beta_schedule_picks_training_sigmas_at_beta_quantiles(schedule, steps):
    expected: list[tuple[int, float]] = []
    for t in [round(float(scipy.stats.beta.ppf(1 - i / steps, 0.6, 0.6) * 999)) for i in range(steps)]:
        if not expected or expected[-1][0] != t:
            expected.append((t, float(schedule.sigmas[t])))
    sigmas = SCHEDULERS["beta"](schedule, steps)
    assert sigmas.tolist() == pytest.approx([s for _, s in expected] + [0.0], rel=1e-7)
    assert float(sigmas[0]) == pytest.approx(schedule.sigma_max)


def test_every_schedule_descends_to_zero(schedule):
    for name, scheduler in SCHEDULERS.items():
        sigmas = scheduler(schedule, 20)
        assert sigmas.dtype == torch.float32, name
        assert sigmas[-1] == 0 and len(sigmas) == 21, name
        assert bool((sigmas[1:] < sigmas[:-1]).all()), name


def test_partial_denoise_keeps_the_tail_of_a_longer_schedule(schedule):
    full = SCHEDULERS["karras"](schedule, 40)
    assert torch.equal(calculate_sigmas(schedule, "karras", 20, denoise=0.5), full[-21:])
    assert len(calculate_sigmas(schedule, "normal", 20, denoise=0.0)) == 0
    longer = SCHEDULERS["normal"](schedule, 21)
    dropped = calculate_sigmas(schedule, "normal", 20, discard_penultimate=True)
    assert torch.equal(dropped, torch.cat([longer[:-2], longer[-1:]]))


def test_bad_schedule_requests_are_value_errors(schedule):
    with pytest.raises(ValueError, match="unknown scheduler 'linear'"):
        calculate_sigmas(schedule, "linear", 20)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        calculate_sigmas(schedule, "normal", 0)
