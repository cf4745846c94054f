"""EmptyLatentImage, VAEDecode and VAEEncode.

LATENT holds the autoencoder's raw latents (not yet multiplied by the SD1.x scale), as ComfyUI's does, on the
CPU in float32: `{"samples": [B, 4, H/8, W/8]}`. Decoding and encoding go one image at a time, an interrupt
point between images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module
from impasto.nodes.sd.objects import SDVae

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]
Latent = dict[str, Any]

MAX_RESOLUTION = 16384


class EmptyLatentImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "generate"
    CATEGORY = "latent"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        side = {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8}
        return {
            "required": {
                "width": ("INT", side),
                "height": ("INT", side),
                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            }
        }

    def generate(self, width: int, height: int, batch_size: int = 1) -> tuple[Latent]:
        # As ComfyUI, a side that is not a multiple of 8 is rounded down to one.
        return ({"samples": torch.zeros([batch_size, 4, height // 8, width // 8])},)


class VAEDecode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    CATEGORY = "latent"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",)}}

    def decode(self, vae: SDVae, samples: Latent) -> tuple[torch.Tensor]:
        latents = samples["samples"]
        images = []
        with torch.no_grad():
            for latent in latents:
                check_interrupt()
                decoded = vae.model.decode(latent[None].to(vae.device))
                # [-1, 1] (1, C, H, W) -> IMAGE [0, 1] (1, H, W, C)
                images.append(((decoded.float() + 1) / 2).clamp(0, 1).movedim(1, -1).cpu())
        return (torch.cat(images),)


class VAEEncode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    CATEGORY = "latent"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    def encode(self, vae: SDVae, pixels: torch.Tensor) -> tuple[Latent]:
        step = vae.model.config.downscale
        height, width = (pixels.shape[1] // step) * step, (pixels.shape[2] // step) * step
        if height == 0 or width == 0:
            raise ValueError(f"the image ({pixels.shape[2]}x{pixels.shape[1]}) is smaller than {step} pixels")
        # Centre-crop to a multiple of the downscale factor, as ComfyUI does.
        top, left = (pixels.shape[1] % step) // 2, (pixels.shape[2] % step) // 2
        cropped = pixels[:, top : top + height, left : left + width, :3]
        latents = []
        with torch.no_grad():
            for image in cropped:
                check_interrupt()
                # IMAGE (H, W, C) in [0, 1] -> (1, C, H, W) in [-1, 1]
                x = image.movedim(-1, 0)[None].to(vae.device) * 2 - 1
                latents.append(vae.model.encode(x).float().cpu())
        return ({"samples": torch.cat(latents)},)
