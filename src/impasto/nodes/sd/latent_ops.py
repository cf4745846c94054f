"""LatentUpscale, LatentUpscaleBy and SetLatentNoiseMask.

Latents are resized with the same interpolation as images (`nodes.image.common_upscale`); ComfyUI's
`bislerp` method is not offered. A noise mask (1: regenerate, 0: keep) rides along in the LATENT as
`noise_mask` [B, 1, H, W] and KSampler honours it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from impasto.nodes.image import common_upscale
from impasto.nodes.sd.latent import MAX_RESOLUTION, Latent

if TYPE_CHECKING:
    import torch

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

LATENT_UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic"]
CROP_METHODS = ["disabled", "center"]


class LatentUpscale:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"
    CATEGORY = "latent"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        side = {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {
            "required": {
                "samples": ("LATENT",),
                "upscale_method": (LATENT_UPSCALE_METHODS,),
                "width": ("INT", side),
                "height": ("INT", side),
                "crop": (CROP_METHODS,),
            }
        }

    def upscale(self, samples: Latent, upscale_method: str, width: int, height: int, crop: str) -> tuple[Latent]:
        if width == 0 and height == 0:
            return (samples,)
        latent: torch.Tensor = samples["samples"]
        h, w = latent.shape[-2], latent.shape[-1]
        # Sizes are in pixels; a side given as 0 keeps the aspect ratio; neither goes below 64 pixels.
        if width == 0:
            height = max(64, height)
            width = max(64, round(w * height / h))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(h * width / w))
        else:
            width, height = max(64, width), max(64, height)
        out = dict(samples)
        out["samples"] = common_upscale(latent, width // 8, height // 8, upscale_method, crop)
        return (out,)


class LatentUpscaleBy:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"
    CATEGORY = "latent"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "samples": ("LATENT",),
                "upscale_method": (LATENT_UPSCALE_METHODS,),
                "scale_by": ("FLOAT", {"default": 1.5, "min": 0.01, "max": 8.0, "step": 0.01}),
            }
        }

    def upscale(self, samples: Latent, upscale_method: str, scale_by: float) -> tuple[Latent]:
        latent: torch.Tensor = samples["samples"]
        width = max(1, round(latent.shape[-1] * scale_by))
        height = max(1, round(latent.shape[-2] * scale_by))
        out = dict(samples)
        out["samples"] = common_upscale(latent, width, height, upscale_method, "disabled")
        return (out,)


class SetLatentNoiseMask:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "set_mask"
    CATEGORY = "latent/inpaint"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"samples": ("LATENT",), "mask": ("MASK",)}}

    def set_mask(self, samples: Latent, mask: torch.Tensor) -> tuple[Latent]:
        out = dict(samples)
        out["noise_mask"] = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        return (out,)
