"""Sampler functions by ComfyUI's `sampler_name`, over a denoiser D(x, sigma) and a descending sigma tensor.

Every sampler calls `callback(Step(...))` once per step after the step's first model evaluation; an
interrupt is an exception raised from that callback, so samplers need no knowledge of jobs. Ancestral and
stochastic samplers draw fresh noise from `noise_sampler` (by default from a CPU generator seeded with 0), never
from torch's global generator. The update rules follow k-diffusion's formulation (Karras et al. 2022).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from impasto.samplers.denoiser import Denoiser
from impasto.samplers.noise import BrownianTreeNoiseSampler, NoiseSampler, cpu_noise_sampler


@dataclass(frozen=True, slots=True)
class Step:
    """What the progress callback sees after each step's first model evaluation."""

    index: int  # 0-based step
    total: int  # number of steps (len(sigmas) - 1)
    x: torch.Tensor  # the sample the step started from
    sigma: torch.Tensor  # its noise level (scalar tensor)
    denoised: torch.Tensor  # the denoiser's estimate, for previews


Callback = Callable[[Step], None]


@dataclass(frozen=True, slots=True)
class SamplerOptions:
    callback: Callback | None = None
    noise_sampler: NoiseSampler | None = None
    eta: float = 1.0  # ancestral samplers: 0 makes them deterministic
    s_noise: float = 1.0  # scale of the fresh noise added by ancestral samplers
    seed: int = 0  # seeds the default noise samplers (KSampler passes its seed)


Sampler = Callable[[Denoiser, torch.Tensor, torch.Tensor, SamplerOptions], torch.Tensor]


def _evaluate(model: Denoiser, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return model(x, sigma * x.new_ones([x.shape[0]]))


def _report(options: SamplerOptions, i: int, sigmas: torch.Tensor, x: torch.Tensor, denoised: torch.Tensor) -> None:
    if options.callback is not None:
        options.callback(Step(i, len(sigmas) - 1, x, sigmas[i], denoised))


def _noise(options: SamplerOptions, x: torch.Tensor) -> NoiseSampler:
    return options.noise_sampler or cpu_noise_sampler(x, seed=options.seed)


def _brownian(options: SamplerOptions, x: torch.Tensor, sigmas: torch.Tensor) -> NoiseSampler:
    if options.noise_sampler is not None:
        return options.noise_sampler
    positive = sigmas[sigmas > 0]
    return BrownianTreeNoiseSampler(x, float(positive.min()), float(sigmas.max()), options.seed)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE's derivative dx/dsigma (Karras et al. 2022, eq. 4 with D)."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: float, sigma_to: float, eta: float = 1.0) -> tuple[float, float]:
    """(sigma_down, sigma_up): step deterministically to sigma_down, then add noise of std sigma_up, so the
    result has noise level sigma_to (Song et al. 2021's ancestral sampling in sigma form)."""
    if not eta or sigma_to == 0:
        return sigma_to, 0.0
    up = min(sigma_to, eta * math.sqrt(sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2))
    return math.sqrt(sigma_to**2 - up**2), up


def sample_euler(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions) -> torch.Tensor:
    """Euler's method on the probability-flow ODE (Karras et al. 2022, algorithm 2 without churn)."""
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def sample_euler_ancestral(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions
) -> torch.Tensor:
    """Euler steps to sigma_down with fresh noise of std sigma_up after each (ancestral sampling)."""
    noise = _noise(options, x)
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        down, up = ancestral_step(float(sigmas[i]), float(sigmas[i + 1]), options.eta)
        x = x + to_d(x, sigmas[i], denoised) * (down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * options.s_noise * up
    return x


def sample_heun(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, algorithm 1); Euler for the last step to sigma 0."""
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        d = to_d(x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sigmas[i + 1], _evaluate(model, x_2, sigmas[i + 1]))
        x = x + (d + d_2) / 2 * dt
    return x


def _log_midpoint(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    return torch.as_tensor(a).log().lerp(torch.as_tensor(b).log(), 0.5).exp()


def sample_dpm_2(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions) -> torch.Tensor:
    """DPM-Solver-2 in k-diffusion's form: the midpoint (in log sigma) slope for the whole step."""
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        d = to_d(x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigmas[i])
            continue
        mid = _log_midpoint(sigmas[i], sigmas[i + 1]).to(x.dtype)
        x_2 = x + d * (mid - sigmas[i])
        d_2 = to_d(x_2, mid, _evaluate(model, x_2, mid))
        x = x + d_2 * (sigmas[i + 1] - sigmas[i])
    return x


def sample_dpm_2_ancestral(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions
) -> torch.Tensor:
    """DPM-Solver-2 steps to sigma_down, then ancestral noise."""
    noise = _noise(options, x)
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        down, up = ancestral_step(float(sigmas[i]), float(sigmas[i + 1]), options.eta)
        d = to_d(x, sigmas[i], denoised)
        if down == 0:
            x = x + d * (down - sigmas[i])
        else:
            mid = _log_midpoint(sigmas[i], down).to(x.dtype)
            x_2 = x + d * (mid - sigmas[i])
            d_2 = to_d(x_2, mid, _evaluate(model, x_2, mid))
            x = x + d_2 * (down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * options.s_noise * up
    return x


def lms_coefficient(order: int, sigmas: list[float], i: int, j: int) -> float:
    """The integral over [sigma_i, sigma_i+1] of the Lagrange basis polynomial of node i - j among
    sigma_i, ..., sigma_(i-order+1), integrated exactly (it is a polynomial)."""
    nodes = [sigmas[i - k] for k in range(order)]
    poly = [1.0]  # coefficients, lowest degree first
    for k, node in enumerate(nodes):
        if k == j:
            continue
        scale = nodes[j] - node
        # multiply by (tau - node) / scale
        shifted = [0.0, *poly]
        poly = [(s - node * p) / scale for s, p in zip(shifted, [*poly, 0.0], strict=True)]
    lo, hi = sigmas[i], sigmas[i + 1]
    return sum(c * (hi ** (n + 1) - lo ** (n + 1)) / (n + 1) for n, c in enumerate(poly))


def sample_lms(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions, order: int = 4
) -> torch.Tensor:
    """Linear multistep (Adams-Bashforth in sigma) of up to fourth order, as in Karras et al. 2022's baselines."""
    plain = [float(s) for s in sigmas]
    slopes: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        slopes = [*slopes[-(order - 1) :], to_d(x, sigmas[i], denoised)]
        current = min(i + 1, order)
        for j, slope in enumerate(reversed(slopes)):
            x = x + lms_coefficient(current, plain, i, j) * slope
    return x


def _t(sigma: torch.Tensor | float) -> torch.Tensor:
    return -torch.as_tensor(sigma).log()


def sample_dpmpp_2m(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): second-order multistep on the data prediction, first order at the ends."""
    previous: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        target = denoised
        if previous is not None and sigmas[i + 1] != 0:
            r = (t - _t(sigmas[i - 1])) / h
            target = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
        x = (sigmas[i + 1] / sigmas[i]) * x - torch.expm1(-h) * target
        previous = denoised
    return x


def sample_dpmpp_2s_ancestral(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions
) -> torch.Tensor:
    """DPM-Solver++(2S) (Lu et al. 2022), single-step second order, to sigma_down, then ancestral noise."""
    noise = _noise(options, x)
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        down, up = ancestral_step(float(sigmas[i]), float(sigmas[i + 1]), options.eta)
        if down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(down)
            h = t_next - t
            s = t + h / 2
            sigma_s = torch.exp(-s).to(x.dtype)
            x_2 = (sigma_s / sigmas[i]) * x - torch.expm1(-h / 2) * denoised
            denoised_2 = _evaluate(model, x_2, sigma_s)
            x = (down / sigmas[i]) * x - torch.expm1(-h) * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * options.s_noise * up
    return x


def sample_lcm(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions) -> torch.Tensor:
    """Latent consistency sampling (Luo et al. 2023): jump to the estimate, re-noise to the next sigma."""
    noise = _noise(options, x)
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
    return x


def sample_dpmpp_sde(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions) -> torch.Tensor:
    """DPM-Solver++ (stochastic, Lu et al. 2022) in k-diffusion's two-stage form: an ancestral half step to the
    log-sigma midpoint, then a full step with the midpoint's estimate; Brownian-tree noise."""
    noise = _brownian(options, x, sigmas)
    eta, s_noise = options.eta, options.s_noise
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        if sigmas[i + 1] == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        sigma_s = torch.exp(-(t + h / 2))
        down, up = ancestral_step(float(sigmas[i]), float(sigma_s), eta)
        x_2 = (down / sigmas[i]) * x - torch.expm1(t - _t(down)) * denoised
        x_2 = x_2 + noise(sigmas[i], sigma_s) * s_noise * up
        denoised_2 = _evaluate(model, x_2, sigma_s.to(x.dtype))
        down, up = ancestral_step(float(sigmas[i]), float(sigmas[i + 1]), eta)
        # With the midpoint at r = 1/2, the second stage's estimate replaces the first entirely.
        x = (down / sigmas[i]) * x - torch.expm1(t - _t(down)) * denoised_2
        x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * up
    return x


def sample_dpmpp_2m_sde(
    model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions
) -> torch.Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022), midpoint variant, with Brownian-tree noise."""
    noise = _brownian(options, x, sigmas)
    eta = options.eta
    previous: torch.Tensor | None = None
    h_last: torch.Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = _evaluate(model, x, sigmas[i])
        _report(options, i, sigmas, x, denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        h = _t(sigmas[i + 1]) - _t(sigmas[i])
        eta_h = eta * h
        x = (sigmas[i + 1] / sigmas[i]) * torch.exp(-eta_h) * x - torch.expm1(-h - eta_h) * denoised
        if previous is not None and h_last is not None:
            x = x - 0.5 * torch.expm1(-h - eta_h) * (h / h_last) * (denoised - previous)
        if eta:
            x = (
                x
                + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-torch.expm1(-2 * eta_h)).sqrt() * options.s_noise
            )
        previous, h_last = denoised, h
    return x


@dataclass(frozen=True, slots=True)
class SamplerEntry:
    function: Sampler
    discard_penultimate_sigma: bool = False  # schedule one more step and drop the second-to-last sigma


# ComfyUI's "ddim" is Euler on the same sigmas: DDIM with eta 0 is Euler's method in sigma (Karras et al. 2022).
SAMPLERS: dict[str, SamplerEntry] = {
    "euler": SamplerEntry(sample_euler),
    "euler_ancestral": SamplerEntry(sample_euler_ancestral),
    "heun": SamplerEntry(sample_heun),
    "dpm_2": SamplerEntry(sample_dpm_2, discard_penultimate_sigma=True),
    "dpm_2_ancestral": SamplerEntry(sample_dpm_2_ancestral, discard_penultimate_sigma=True),
    "lms": SamplerEntry(sample_lms),
    "dpmpp_2s_ancestral": SamplerEntry(sample_dpmpp_2s_ancestral),
    "dpmpp_sde": SamplerEntry(sample_dpmpp_sde),
    "dpmpp_2m": SamplerEntry(sample_dpmpp_2m),
    "dpmpp_2m_sde": SamplerEntry(sample_dpmpp_2m_sde),
    "lcm": SamplerEntry(sample_lcm),
    "ddim": SamplerEntry(sample_euler),
}


def sample(
    name: str, model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, options: SamplerOptions | None = None
) -> torch.Tensor:
    """Run the sampler registered as `name` from x (already noised to sigmas[0]) down the sigmas."""
    entry = SAMPLERS.get(name)
    if entry is None:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    with torch.no_grad():
        return entry.function(model, x, sigmas.to(x.device, x.dtype), options or SamplerOptions())
