"""VAEDecodeTiled and VAEEncodeTiled: the autoencoder over overlapping tiles, for images too large to convert
at once. Tiles are blended with weights that fall linearly to the edges inside the overlap, so seams fade;
there is an interrupt point between tiles. (Tiles see only their own neighbourhood, so the result differs
slightly from a whole-image pass where the VAE's attention would see everything.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module
from impasto.nodes.sd.latent import Latent

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one side: every `tile - overlap`, the last one flush with the end."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _ramp(size: int, overlap: int, at_start: bool, at_end: bool, device: torch.device) -> torch.Tensor:
    """1 inside, falling linearly over `overlap` samples towards an edge that has a neighbouring tile."""
    weight = torch.ones(size, device=device)
    fade = min(overlap, size // 2)
    if fade > 0:
        steps = (torch.arange(fade, device=device, dtype=torch.float32) + 1) / (fade + 1)
        if not at_start:
            weight[:fade] = steps
        if not at_end:
            weight[size - fade :] = steps.flip(0)
    return weight


def tiled(
    x: torch.Tensor, function: Callable[[torch.Tensor], torch.Tensor], tile: int, overlap: int, factor: float
) -> torch.Tensor:
    """`function` over tiles of x (b, c, h, w) of `tile` x `tile` with `overlap`, scaling sizes by `factor`
    (8 to decode, 1/8 to encode), blended into one (b, c', h * factor, w * factor) result."""
    b, _, h, w = x.shape
    out: torch.Tensor | None = None
    total: torch.Tensor | None = None
    rows, cols = _starts(h, tile, overlap), _starts(w, tile, overlap)
    for top in rows:
        for left in cols:
            check_interrupt()
            piece = function(x[:, :, top : top + tile, left : left + tile]).float()
            if out is None or total is None:
                out = torch.zeros(b, piece.shape[1], round(h * factor), round(w * factor), device=piece.device)
                total = torch.zeros(1, 1, out.shape[2], out.shape[3], device=piece.device)
            ph, pw = piece.shape[2], piece.shape[3]
            y0, x0 = round(top * factor), round(left * factor)
            fade = round(overlap * factor)
            wy = _ramp(ph, fade, top == rows[0], top == rows[-1], piece.device)
            wx = _ramp(pw, fade, left == cols[0], left == cols[-1], piece.device)
            weight = wy[:, None] * wx[None, :]
            out[:, :, y0 : y0 + ph, x0 : x0 + pw] += piece * weight
            total[:, :, y0 : y0 + ph, x0 : x0 + pw] += weight
    assert out is not None and total is not None  # at least one tile
    return out / total


class VAEDecodeTiled:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    CATEGORY = "_for_testing"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "samples": ("LATENT",),
                "vae": ("VAE",),
                "tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 32}),
                "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
                "temporal_size": ("INT", {"default": 64, "min": 8, "max": 4096, "step": 4}),
                "temporal_overlap": ("INT", {"default": 8, "min": 4, "max": 4096, "step": 4}),
            }
        }

    def decode(
        self, vae: Any, samples: Latent, tile_size: int, overlap: int = 64, **_video: int
    ) -> tuple[torch.Tensor]:
        # temporal_size/temporal_overlap concern video VAEs; an image VAE has no time axis.
        step = vae.model.config.downscale
        tile, over = max(1, tile_size // step), min(overlap, tile_size // 4) // step
        with torch.no_grad():
            decoded = tiled(samples["samples"].to(vae.device), vae.model.decode, tile, over, step)
        return (((decoded + 1) / 2).clamp(0, 1).movedim(1, -1).cpu(),)


class VAEEncodeTiled:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    CATEGORY = "_for_testing"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "pixels": ("IMAGE",),
                "vae": ("VAE",),
                "tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 64}),
                "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32}),
                "temporal_size": ("INT", {"default": 64, "min": 8, "max": 4096, "step": 4}),
                "temporal_overlap": ("INT", {"default": 8, "min": 4, "max": 4096, "step": 4}),
            }
        }

    def encode(self, vae: Any, pixels: torch.Tensor, tile_size: int, overlap: int = 64, **_video: int) -> tuple[Latent]:
        step = vae.model.config.downscale
        height, width = (pixels.shape[1] // step) * step, (pixels.shape[2] // step) * step
        if height == 0 or width == 0:
            raise ValueError(f"the image ({pixels.shape[2]}x{pixels.shape[1]}) is smaller than {step} pixels")
        top, left = (pixels.shape[1] % step) // 2, (pixels.shape[2] % step) // 2
        # IMAGE (b, h, w, c) in [0, 1] -> (b, c, h, w) in [-1, 1], cropped to a multiple of the downscale
        x = pixels[:, top : top + height, left : left + width, :3].movedim(-1, 1).to(vae.device) * 2 - 1
        tile = max(step, (tile_size // step) * step)
        over = (min(overlap, tile_size // 4) // step) * step
        with torch.no_grad():
            latents = tiled(x, vae.model.encode, tile, over, 1 / step)
        return ({"samples": latents.cpu()},)
