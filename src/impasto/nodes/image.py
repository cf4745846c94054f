"""Core image nodes: empty images, scaling, inversion, batching, cropping and outpaint padding.

IMAGE tensors are float32 `[B, H, W, C]` in 0..1 (execution.md §12); resizing works on `[B, C, H, W]`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

MAX_RESOLUTION = 16384
UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROP_METHODS = ["disabled", "center"]


def common_upscale(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """Resize `[B, C, H, W]` to `width` x `height`; `crop="center"` first cuts the source to the target aspect.

    `lanczos` goes through PIL in 8 bits; the other methods are torch's interpolation modes of the same
    name, without antialiasing.
    """
    if crop == "center":
        samples = center_crop_to_aspect(samples, width, height)
    if method == "lanczos":
        return _lanczos(samples, width, height)
    if method not in UPSCALE_METHODS:
        raise ValueError(f"unknown upscale method {method!r}; expected one of {UPSCALE_METHODS}")
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)


def center_crop_to_aspect(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Cut equal (rounded) amounts from both ends of the side of `[..., H, W]` that is too long for width/height."""
    old_height, old_width = samples.shape[-2], samples.shape[-1]
    old_aspect = old_width / old_height
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_height - 2 * y).narrow(-1, x, old_width - 2 * x)


def _lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    channels = samples.shape[1]
    out = []
    for image in samples:
        check_interrupt()  # between the images of a batch
        # (c, h, w) -> (h, w, c), truncated to bytes as PIL needs them
        pixels = np.clip(255.0 * image.movedim(0, -1).cpu().numpy(), 0, 255).astype(np.uint8)
        if channels in (2, 3, 4):
            # One PIL image (LA, RGB, RGBA) so PIL treats alpha as it does for real files.
            resized = np.asarray(_pil_lanczos(pixels, width, height))
        else:
            bands = [np.asarray(_pil_lanczos(pixels[..., c], width, height)) for c in range(channels)]
            resized = np.stack(bands, axis=-1)
        out.append(torch.from_numpy(resized.astype(np.float32) / 255.0).reshape(height, width, channels))
    return torch.stack(out).movedim(-1, 1).to(samples.device, samples.dtype)


def _pil_lanczos(pixels: npt.NDArray[np.uint8], width: int, height: int) -> Image.Image:
    return Image.fromarray(pixels).resize((width, height), resample=Image.Resampling.LANCZOS)


def _scale(image: torch.Tensor, method: str, width: int, height: int, crop: str) -> torch.Tensor:
    if width < 1 or height < 1:
        raise ValueError(f"cannot scale to {width}x{height}: both sides must be at least 1 pixel")
    return common_upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


class EmptyImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
                "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
                "color": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"}),
            }
        }

    def generate(self, width: int, height: int, batch_size: int = 1, color: int = 0) -> tuple[torch.Tensor]:
        rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
        # Filled by numpy and wrapped once: a single torch call is far cheaper than three for a small image.
        pixels = np.empty((batch_size, height, width, 3), dtype=np.float32)
        pixels[...] = np.array(rgb, dtype=np.float32)
        return (torch.from_numpy(pixels),)


class ImageScale:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    CATEGORY = "image/upscaling"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE",),
                "upscale_method": (list(UPSCALE_METHODS),),
                "width": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "height": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "crop": (list(CROP_METHODS),),
            }
        }

    def upscale(
        self, image: torch.Tensor, upscale_method: str, width: int, height: int, crop: str
    ) -> tuple[torch.Tensor]:
        if width == 0 and height == 0:
            return (image,)
        old_height, old_width = image.shape[1], image.shape[2]
        if width == 0:
            width = max(1, round(old_width * height / old_height))
        elif height == 0:
            height = max(1, round(old_height * width / old_width))
        return (_scale(image, upscale_method, width, height, crop),)


class ImageScaleBy:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    CATEGORY = "image/upscaling"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE",),
                "upscale_method": (list(UPSCALE_METHODS),),
                "scale_by": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01}),
            }
        }

    def upscale(self, image: torch.Tensor, upscale_method: str, scale_by: float) -> tuple[torch.Tensor]:
        width = round(image.shape[2] * scale_by)
        height = round(image.shape[1] * scale_by)
        return (_scale(image, upscale_method, width, height, "disabled"),)


class ImageScaleToTotalPixels:
    """Scales to about `megapixels` million pixels, keeping the aspect (V3 in ComfyUI)."""

    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_post_processing"
    OBJECT_INFO_V3 = True
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = (None,)
    FUNCTION = "upscale"
    CATEGORY = "image/upscaling"
    DESCRIPTION = ""
    DEPRECATED = False
    EXPERIMENTAL = False
    API_NODE = False

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE", {}),
                "upscale_method": ("COMBO", {"multiselect": False, "options": list(UPSCALE_METHODS)}),
                "megapixels": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 16.0, "step": 0.01}),
            }
        }

    def upscale(self, image: torch.Tensor, upscale_method: str, megapixels: float) -> tuple[torch.Tensor]:
        old_height, old_width = image.shape[1], image.shape[2]
        total = int(megapixels * 1024 * 1024)
        scale_by = math.sqrt(total / (old_width * old_height))
        width = round(old_width * scale_by)
        height = round(old_height * scale_by)
        return (_scale(image, upscale_method, width, height, "disabled"),)


class ImageInvert:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "invert"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"image": ("IMAGE",)}}

    def invert(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        return (1.0 - image,)


class ImageBatch:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "batch"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",)}}

    def batch(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor]:
        if image1.shape[-1] != image2.shape[-1]:
            raise ValueError(
                f"cannot batch images with {image1.shape[-1]} and {image2.shape[-1]} channels: "
                "the channel counts must match"
            )
        if image1.shape[1:] != image2.shape[1:]:
            image2 = _scale(image2, "bilinear", image1.shape[2], image1.shape[1], "center")
        return (torch.cat((image1, image2), dim=0),)


class ImageCrop:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_images"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "crop"
    CATEGORY = "image/transform"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE",),
                "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
                "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
                "x": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
                "y": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
            }
        }

    def crop(self, image: torch.Tensor, width: int, height: int, x: int, y: int) -> tuple[torch.Tensor]:
        x = min(x, image.shape[2] - 1)
        y = min(y, image.shape[1] - 1)
        # Slicing clips the region at the image edge, so the result may be smaller than asked.
        return (image[:, y : y + height, x : x + width, :],)


class ImagePadForOutpaint:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "expand_image"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        margin = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {
            "required": {
                "image": ("IMAGE",),
                "left": ("INT", dict(margin)),
                "top": ("INT", dict(margin)),
                "right": ("INT", dict(margin)),
                "bottom": ("INT", dict(margin)),
                "feathering": ("INT", {"default": 40, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
            }
        }

    def expand_image(
        self, image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, height, width, channels = image.shape
        new_height, new_width = height + top + bottom, width + left + right
        padded = torch.full((batch, new_height, new_width, channels), 0.5, dtype=torch.float32)
        padded[:, top : top + height, left : left + width, :] = image
        mask = torch.ones((new_height, new_width), dtype=torch.float32)
        mask[top : top + height, left : left + width] = _feather(height, width, left, top, right, bottom, feathering)
        return (padded, mask.unsqueeze(0))


def _feather(height: int, width: int, left: int, top: int, right: int, bottom: int, feathering: int) -> torch.Tensor:
    """The mask over the original pixels: ((f - d) / f)^2 within distance f of a padded side, else 0."""
    if not (feathering > 0 and 2 * feathering < height and 2 * feathering < width):
        return torch.zeros((height, width), dtype=torch.float32)
    rows = torch.arange(height, dtype=torch.int64).unsqueeze(1)  # (h, 1)
    cols = torch.arange(width, dtype=torch.int64).unsqueeze(0)  # (1, w)
    # A side without a margin never feathers: its distance is the full extent, at least 2f.
    d_top = rows if top else torch.full_like(rows, height)
    d_bottom = height - rows if bottom else torch.full_like(rows, height)
    d_left = cols if left else torch.full_like(cols, width)
    d_right = width - cols if right else torch.full_like(cols, width)
    distance = torch.minimum(torch.minimum(d_top, d_bottom), torch.minimum(d_left, d_right))  # (h, w)
    # float64 first, as the value is computed in Python floats before it is stored.
    value = (feathering - distance).to(torch.float64) / feathering
    return torch.where(distance < feathering, value * value, 0.0).to(torch.float32)


class ImageFromBatch:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_images"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "frombatch"
    CATEGORY = "image/batch"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE",),
                "batch_index": ("INT", {"default": 0, "min": 0, "max": 4095}),
                "length": ("INT", {"default": 1, "min": 1, "max": 4096}),
            }
        }

    def frombatch(self, image: torch.Tensor, batch_index: int, length: int) -> tuple[torch.Tensor]:
        batch_index = min(image.shape[0] - 1, batch_index)
        length = min(image.shape[0] - batch_index, length)
        return (image[batch_index : batch_index + length].clone(),)


class RepeatImageBatch:
    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_images"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "repeat"
    CATEGORY = "image/batch"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"image": ("IMAGE",), "amount": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    def repeat(self, image: torch.Tensor, amount: int) -> tuple[torch.Tensor]:
        return (image.repeat((amount, 1, 1, 1)),)


class RebatchImages:
    """Regroups every incoming image into batches of `batch_size` (V3 in ComfyUI, reported in its V3 shape)."""

    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_rebatch"
    OBJECT_INFO_V3 = True
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_IS_LIST = (True,)
    OUTPUT_TOOLTIPS = (None,)
    INPUT_IS_LIST = True
    FUNCTION = "rebatch"
    CATEGORY = "image/batch"
    DESCRIPTION = ""
    DEPRECATED = False
    EXPERIMENTAL = False
    API_NODE = False

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"images": ("IMAGE", {}), "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    def rebatch(self, images: list[torch.Tensor], batch_size: list[int]) -> tuple[list[torch.Tensor]]:
        size = batch_size[0]
        singles = [batch[i : i + 1] for batch in images for i in range(batch.shape[0])]
        return ([torch.cat(singles[i : i + size], dim=0) for i in range(0, len(singles), size)],)
