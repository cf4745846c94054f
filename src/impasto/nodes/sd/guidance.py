"""The denoiser KSampler runs: the UNet under the positive and negative CONDITIONING, with CFG.

One entry on each side (the usual case) runs as a single batched classifier-free-guidance pass. Several entries
(ConditioningCombine) are averaged by their `strength`; an entry with an `area` (ConditioningSetArea) denoises
only its rectangle of the latent, its weight ramping down over 8 latent pixels at edges inside the image, and
each pixel's estimate is the weighted mean of the entries that cover it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from impasto.nodes._lazy import lazy_module
from impasto.nodes.sd.objects import Conditioning, SDModel

if TYPE_CHECKING:
    import torch

    from impasto.samplers.denoiser import Denoiser
else:
    torch = lazy_module("torch")

FEATHER = 8  # latent pixels over which an area's weight falls at its inner edges


@dataclass(frozen=True, slots=True)
class Entry:
    context: torch.Tensor  # (1 or b, tokens, width)
    strength: float
    area: tuple[int, int, int, int] | None  # (height, width, y, x) in latent pixels


def entries(conditioning: Conditioning, name: str, model: SDModel) -> list[Entry]:
    """The conditioning's entries on the model's device, checked against the width the UNet attends to."""
    width = model.unet.config.context_dim
    if not conditioning:
        raise ValueError(f"the {name} conditioning is empty")
    out = []
    for tensor, options in conditioning:
        if tensor.dim() != 3 or tensor.shape[-1] != width:
            raise ValueError(
                f"the {name} conditioning has shape {tuple(tensor.shape)}, the model attends to width {width} "
                "(is the text encoder from another model family?)"
            )
        area = options.get("area")
        out.append(
            Entry(
                tensor.to(model.device, model.dtype),
                float(options.get("strength", 1.0)),
                tuple(int(v) for v in area) if area is not None else None,  # type: ignore[arg-type]  # 4 ints
            )
        )
    return out


def _ramp(size: int, at_start: bool, at_end: bool, device: torch.device) -> torch.Tensor:
    ramp = torch.ones(size, device=device)
    fade = min(FEATHER, size // 2)
    if fade:
        steps = (torch.arange(fade, device=device, dtype=torch.float32) + 1) / fade
        if at_start:
            ramp[:fade] *= steps
        if at_end:
            ramp[size - fade :] *= steps.flip(0)
    return ramp


def _weight(area: tuple[int, int, int, int], h: int, w: int, strength: float, device: torch.device) -> torch.Tensor:
    """The (1, 1, ah, aw) weight of an area clipped to the latent: strength, fading at edges inside the image."""
    ah, aw, y, x = area
    rows = _ramp(ah, y > 0, y + ah < h, device)
    cols = _ramp(aw, x > 0, x + aw < w, device)
    return (strength * rows[:, None] * cols[None, :])[None, None]


def _clip_area(area: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int] | None:
    ah, aw, y, x = area
    y, x = min(max(y, 0), h), min(max(x, 0), w)
    ah, aw = min(ah, h - y), min(aw, w - x)
    return (ah, aw, y, x) if ah > 0 and aw > 0 else None


def build_denoiser(model: SDModel, positive: Conditioning, negative: Conditioning, cfg: float) -> Denoiser:
    from impasto.samplers.denoiser import CFGDenoiser, EpsDenoiser

    def eps(x_in: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = model.unet(x_in, t, context)
        return out

    inner = EpsDenoiser(eps, model.schedule)
    pos, neg = entries(positive, "positive", model), entries(negative, "negative", model)
    if len(pos) == 1 and len(neg) == 1 and pos[0].area is None and neg[0].area is None:
        return CFGDenoiser(inner, pos[0].context, neg[0].context, cfg)

    def mean(x: torch.Tensor, sigma: torch.Tensor, side: list[Entry]) -> torch.Tensor:
        b, _, h, w = x.shape
        total = torch.zeros_like(x)
        count = torch.full((1, 1, h, w), 1e-37, device=x.device, dtype=x.dtype)  # uncovered pixels stay 0
        for entry in side:
            context = entry.context.expand(b, *entry.context.shape[1:])
            area = _clip_area(entry.area, h, w) if entry.area is not None else (h, w, 0, 0)
            if area is None:
                continue  # an area wholly outside this latent
            ah, aw, y, x0 = area
            weight = (
                _weight(area, h, w, entry.strength, x.device).to(x.dtype)
                if entry.area is not None
                else torch.full((1, 1, 1, 1), entry.strength, device=x.device, dtype=x.dtype)
            )
            denoised = inner(x[:, :, y : y + ah, x0 : x0 + aw], sigma, context)
            total[:, :, y : y + ah, x0 : x0 + aw] += denoised * weight
            count[:, :, y : y + ah, x0 : x0 + aw] += weight
        return total / count

    def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        cond = mean(x, sigma, pos)
        if cfg == 1.0:
            return cond
        uncond = mean(x, sigma, neg)
        return uncond + (cond - uncond) * cfg

    return guided
