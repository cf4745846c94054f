"""impasto's SD1.x UNet and sampler against diffusers on the same tiny random weights, on the CPU.

.venv/bin/python -m bench.sd_bench

Two workloads, each timed alternately (impasto, diffusers, impasto, ...) so machine load hits both alike:
one UNet forward (batch 2 as under CFG, 32x32 latent, 77 context tokens) and a 20-step euler run with
CFG 7 over the UNet (impasto: samplers.sample + CFGDenoiser + EpsDenoiser; diffusers: UNet2DConditionModel
driven by EulerDiscreteScheduler). Prints medians and the ratio impasto / diffusers (below 1: impasto is faster).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tests.support.tiny_sd import CLIP_WIDTH, make_tiny_sd  # sets HF_HUB_OFFLINE: nothing is downloaded

from impasto.models.checkpoint import load_sd1
from impasto.samplers.denoiser import CFGDenoiser, EpsDenoiser
from impasto.samplers.discrete import DiscreteSchedule
from impasto.samplers.noise import initial_noise
from impasto.samplers.sampling import sample
from impasto.samplers.schedules import calculate_sigmas


def alternate(ours: Callable[[], object], theirs: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds of each, measured in alternation after one warm-up call of each."""
    ours()
    theirs()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        for function, samples in ((ours, a), (theirs, b)):
            started = time.perf_counter()
            function()
            samples.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b)


def main() -> int:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as directory, torch.no_grad():
        tiny = make_tiny_sd(Path(directory))
        models = load_sd1(tiny.path)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 32, 32, generator=generator)
    t = torch.tensor([500.0, 500.0])
    context = torch.randn(2, 77, CLIP_WIDTH, generator=generator)

    def ours_forward() -> None:
        with torch.no_grad():
            models.unet(x, t, context)

    def diffusers_forward() -> None:
        with torch.no_grad():
            tiny.unet(x, t, encoder_hidden_states=context)

    schedule = DiscreteSchedule()
    steps, cfg = 20, 7.0
    sigmas = calculate_sigmas(schedule, "normal", steps)
    noise = initial_noise(3, (1, 4, 32, 32))
    cond, uncond = context[:1], context[1:]

    def ours_sampling() -> None:
        denoiser = CFGDenoiser(EpsDenoiser(models.unet, schedule), cond, uncond, cfg)
        sample("euler", denoiser, noise * sigmas[0], sigmas)

    from diffusers import EulerDiscreteScheduler

    scheduler: Any = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="linspace"
    )

    def diffusers_sampling() -> None:
        scheduler.set_timesteps(steps)
        latents = noise * scheduler.init_noise_sigma
        with torch.no_grad():
            for step in scheduler.timesteps:
                x_in = scheduler.scale_model_input(torch.cat([latents, latents]), step)
                eps = tiny.unet(x_in, step, encoder_hidden_states=context).sample
                eps_cond, eps_uncond = eps.chunk(2)
                latents = scheduler.step(eps_uncond + cfg * (eps_cond - eps_uncond), step, latents).prev_sample

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU float32")
    print("| workload | impasto ms | diffusers ms | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs, repeat in (
        ("UNet forward, batch 2, 32x32 latent", ours_forward, diffusers_forward, 21),
        ("20 euler steps with CFG, 32x32 latent", ours_sampling, diffusers_sampling, 5),
    ):
        a, b = alternate(ours, theirs, repeat)
        print(f"| {name} | {a * 1000:.1f} | {b * 1000:.1f} | {a / b:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
