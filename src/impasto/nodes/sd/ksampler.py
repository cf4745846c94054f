"""KSampler and KSamplerAdvanced: denoise a LATENT with a MODEL under positive and negative CONDITIONING.

The starting noise comes from a CPU generator seeded with `seed` (so one seed gives the same image on any
device), the sigmas from the named schedule, the steps from the named sampler. Every step reports progress to
the job, which is also where an interrupt takes effect; the UNet's module calls are interrupt points too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from impasto.engine.context import active_run, check_interrupt, current_node
from impasto.nodes._lazy import lazy_module
from impasto.nodes.sd.guidance import build_denoiser
from impasto.nodes.sd.latent import Latent
from impasto.nodes.sd.objects import Conditioning, SDModel
from impasto.nodes.sd.previews import PreviewThrottle

if TYPE_CHECKING:
    import torch

    from impasto.samplers.sampling import Step
else:
    torch = lazy_module("torch")

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

# Registry order follows ComfyUI's lists; these are the names impasto implements.
SAMPLER_NAMES = [
    "euler",
    "euler_ancestral",
    "heun",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpmpp_2s_ancestral",
    "dpmpp_sde",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "lcm",
    "ddim",
]
SCHEDULER_NAMES = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal"]
SEED_MAX = 0xFFFFFFFFFFFFFFFF


def prepare_noise(shape: torch.Size, seed: int, batch_index: list[int] | None = None) -> torch.Tensor:
    """The starting noise: one draw for the whole batch, or, for a latent carrying `batch_index`, image i of
    a batch drawn image by image, so a latent split out of a batch gets the noise it had there."""
    from impasto.samplers.noise import initial_noise

    if batch_index is None:
        return initial_noise(seed, shape)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    wanted = sorted(set(batch_index))
    drawn: dict[int, torch.Tensor] = {}
    for i in range(wanted[-1] + 1):
        noise = torch.randn([1, *shape[1:]], generator=generator, dtype=torch.float32)
        if i in wanted:
            drawn[i] = noise
    return torch.cat([drawn[i] for i in batch_index])


def _progress(step: Step, previews: PreviewThrottle | None = None) -> None:
    """Each step: progress (and maybe a preview) to the job, an interrupt point; outside a job, a plain check."""
    node, run = current_node(), active_run()
    if node is not None and run is not None:
        preview = previews.frame(step) if previews is not None else None
        run.report_progress(node.node_id, step.index + 1, step.total, preview)
    else:
        check_interrupt()


def _latent_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A noise mask at the latent's size (bilinear), on every channel and every image of the batch."""
    m = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()
    m = torch.nn.functional.interpolate(m, size=(shape[2], shape[3]), mode="bilinear")
    m = m.expand(-1, shape[1], -1, -1)
    repeats = -(-shape[0] // m.shape[0])  # ceil: a shorter mask batch repeats, as ComfyUI's does
    return m.repeat(repeats, 1, 1, 1)[: shape[0]]


class _Inpaint:
    """Outside the mask the sample is held at the input latent noised to the current sigma, and the estimate at
    the input latent, so only the masked region is generated."""

    def __init__(self, inner: Any, regenerate: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor) -> None:
        self.inner, self.regenerate, self.keep, self.x0, self.noise = inner, regenerate, 1 - regenerate, x0, noise

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        x = x * self.regenerate + (self.x0 + self.noise * s) * self.keep
        out: torch.Tensor = self.inner(x, sigma)
        return out * self.regenerate + self.x0 * self.keep


def common_ksampler(
    model: SDModel,
    seed: int,
    steps: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    denoise: float = 1.0,
    disable_noise: bool = False,
    start_step: int | None = None,
    last_step: int | None = None,
    force_full_denoise: bool = False,
) -> tuple[Latent]:
    from impasto.samplers.sampling import SAMPLERS, SamplerOptions, sample
    from impasto.samplers.schedules import calculate_sigmas

    if sampler_name not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler_name!r}; impasto has {', '.join(SAMPLERS)}")
    samples: torch.Tensor = latent["samples"]
    entry = SAMPLERS[sampler_name]
    sigmas = calculate_sigmas(model.schedule, scheduler, steps, denoise, entry.discard_penultimate_sigma)
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[: last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        if start_step >= len(sigmas) - 1:
            return (dict(latent),)
        sigmas = sigmas[start_step:]
    if len(sigmas) < 2:
        return (dict(latent),)

    if disable_noise:
        noise = torch.zeros(samples.shape)
    else:
        noise = prepare_noise(samples.shape, seed, latent.get("batch_index"))
    x0 = samples.float() * model.latent_scale
    sigma0 = float(sigmas[0])
    # From pure noise (sigma at the schedule's top) the start is noise * sqrt(1 + sigma^2), unit variance in
    # the model's own scaling; a partial denoise adds noise * sigma to the image's latent.
    full = math.isclose(model.schedule.sigma_max, sigma0, rel_tol=1e-5) or sigma0 > model.schedule.sigma_max
    x = x0 + noise * (math.sqrt(1 + sigma0**2) if full else sigma0)
    denoiser = build_denoiser(model, positive, negative, cfg)
    mask = latent.get("noise_mask")
    keep: torch.Tensor | None = None
    if mask is not None:
        regenerate = _latent_mask(mask, samples.shape).to(model.device)
        keep = 1 - regenerate
        denoiser = _Inpaint(denoiser, regenerate, x0.to(model.device), noise.to(model.device))
    previews = PreviewThrottle(model.previewer, model.latent_scale) if model.previewer is not None else None
    options = SamplerOptions(callback=lambda step: _progress(step, previews), seed=seed)
    # The sampler's arithmetic stays in float32 whatever the UNet computes in (it casts its input itself).
    out = sample(sampler_name, denoiser, x.to(model.device), sigmas, options)
    if keep is not None:
        out = out * (1 - keep) + x0.to(out.device, out.dtype) * keep
    result = dict(latent)
    result["samples"] = (out.float() / model.latent_scale).cpu()
    return (result,)


def _common_inputs() -> dict[str, tuple[object, ...]]:
    return {
        "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
        "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}),
        "sampler_name": (SAMPLER_NAMES,),
        "scheduler": (SCHEDULER_NAMES,),
        "positive": ("CONDITIONING",),
        "negative": ("CONDITIONING",),
        "latent_image": ("LATENT",),
    }


class KSampler:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "sampling"
    SAMPLERS = SAMPLER_NAMES
    SCHEDULERS = SCHEDULER_NAMES

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "model": ("MODEL",),
                "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True}),
                **_common_inputs(),
                "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
            }
        }

    def sample(
        self,
        model: SDModel,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        positive: Conditioning,
        negative: Conditioning,
        latent_image: Latent,
        denoise: float = 1.0,
    ) -> tuple[Latent]:
        return common_ksampler(
            model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=denoise
        )


class KSamplerAdvanced:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "sampling"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        common = _common_inputs()
        return {
            "required": {
                "model": ("MODEL",),
                "add_noise": (["enable", "disable"],),
                "noise_seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True}),
                **common,
                "start_at_step": ("INT", {"default": 0, "min": 0, "max": 10000}),
                "end_at_step": ("INT", {"default": 10000, "min": 0, "max": 10000}),
                "return_with_leftover_noise": (["disable", "enable"],),
            }
        }

    def sample(
        self,
        model: SDModel,
        add_noise: str,
        noise_seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        positive: Conditioning,
        negative: Conditioning,
        latent_image: Latent,
        start_at_step: int,
        end_at_step: int,
        return_with_leftover_noise: str,
        denoise: float = 1.0,
    ) -> tuple[Latent]:
        return common_ksampler(
            model,
            noise_seed,
            steps,
            cfg,
            sampler_name,
            scheduler,
            positive,
            negative,
            latent_image,
            denoise=denoise,
            disable_noise=add_noise == "disable",
            start_step=start_at_step,
            last_step=end_at_step,
            force_full_denoise=return_with_leftover_noise != "enable",
        )
