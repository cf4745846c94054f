"""Post-processing nodes: blend, blur, sharpen and quantize (V3 nodes in ComfyUI, reported in their V3 shape)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module
from impasto.nodes.image import common_upscale

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:
    torch = lazy_module("torch")
    F = lazy_module("torch.nn.functional")

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

BLEND_MODES = ["normal", "multiply", "screen", "overlay", "soft_light", "difference"]
DITHER_MODES = ["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"]


class _V3Node:
    """What ComfyUI reports for every V3 node: no description, one null tooltip, the flags all false."""

    RELATIVE_PYTHON_MODULE = "comfy_extras.nodes_post_processing"
    OBJECT_INFO_V3 = True
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = (None,)
    CATEGORY = "image/postprocessing"
    DESCRIPTION = ""
    DEPRECATED = False
    EXPERIMENTAL = False
    API_NODE = False


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """A normalized `size`x`size` Gaussian sampled on a -1..1 grid, so `sigma` is relative to the radius."""
    axis = torch.linspace(-1.0, 1.0, size)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    squared = x * x + y * y
    kernel = torch.exp(-squared / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def _convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of `[B, H, W, C]` convolved with a square kernel, edges reflect-padded, size kept."""
    channels = image.shape[-1]
    radius = kernel.shape[-1] // 2
    weight = kernel.to(image.dtype).repeat(channels, 1, 1, 1)  # (c, 1, k, k)
    x = F.pad(image.movedim(-1, 1), (radius, radius, radius, radius), mode="reflect")  # (b, c, h+2r, w+2r)
    return F.conv2d(x, weight, groups=channels).movedim(1, -1)


class ImageBlend(_V3Node):
    FUNCTION = "blend_images"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image1": ("IMAGE", {}),
                "image2": ("IMAGE", {}),
                "blend_factor": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
                "blend_mode": ("COMBO", {"multiselect": False, "options": list(BLEND_MODES)}),
            }
        }

    def blend_images(
        self, image1: torch.Tensor, image2: torch.Tensor, blend_factor: float, blend_mode: str
    ) -> tuple[torch.Tensor]:
        if image1.shape[-1] > image2.shape[-1]:
            raise ValueError(
                f"image1 has {image1.shape[-1]} channels but image2 only {image2.shape[-1]}; "
                "image2 needs at least as many channels as image1"
            )
        image2 = image2[..., : image1.shape[-1]].to(image1.device)
        if image1.shape != image2.shape:
            resized = common_upscale(image2.movedim(-1, 1), image1.shape[2], image1.shape[1], "bicubic", "center")
            image2 = resized.movedim(1, -1)
        blended = image1 * (1 - blend_factor) + blend(image1, image2, blend_mode) * blend_factor
        return (torch.clamp(blended, 0, 1),)


def blend(a: torch.Tensor, b: torch.Tensor, mode: str) -> torch.Tensor:
    """The blend function m(a, b) of a mode, before mixing with the blend factor."""
    if mode == "normal":
        return b
    if mode == "multiply":
        return a * b
    if mode == "screen":
        return 1 - (1 - a) * (1 - b)
    if mode == "overlay":
        return torch.where(a <= 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    if mode == "soft_light":
        g = torch.where(a <= 0.25, ((16 * a - 12) * a + 4) * a, torch.sqrt(a))
        return torch.where(b <= 0.5, a - (1 - 2 * b) * a * (1 - a), a + (2 * b - 1) * (g - a))
    if mode == "difference":
        return a - b  # signed: the final clamp removes the negatives
    raise ValueError(f"unknown blend mode {mode!r}; expected one of {BLEND_MODES}")


class ImageBlur(_V3Node):
    FUNCTION = "blur"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE", {}),
                "blur_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1}),
                "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1}),
            }
        }

    def blur(self, image: torch.Tensor, blur_radius: int, sigma: float) -> tuple[torch.Tensor]:
        if blur_radius == 0:
            return (image,)
        return (_convolve(image, gaussian_kernel(2 * blur_radius + 1, sigma)),)


def sharpen_kernel(radius: int, sigma: float, alpha: float) -> torch.Tensor:
    """The Gaussian times -10·alpha with its centre raised so the kernel sums to 1 (an unsharp mask)."""
    size = 2 * radius + 1
    kernel = gaussian_kernel(size, sigma) * -(alpha * 10)
    kernel[radius, radius] = kernel[radius, radius] - kernel.sum() + 1.0
    return kernel


class ImageSharpen(_V3Node):
    FUNCTION = "sharpen"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE", {}),
                "sharpen_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1}),
                "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.01}),
                "alpha": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 5.0, "step": 0.01}),
            }
        }

    def sharpen(self, image: torch.Tensor, sharpen_radius: int, sigma: float, alpha: float) -> tuple[torch.Tensor]:
        if sharpen_radius == 0:
            return (image,)
        sharpened = _convolve(image, sharpen_kernel(sharpen_radius, sigma, alpha))
        return (torch.clamp(sharpened, 0, 1),)


class ImageQuantize(_V3Node):
    FUNCTION = "quantize"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "image": ("IMAGE", {}),
                "colors": ("INT", {"default": 256, "min": 1, "max": 256, "step": 1}),
                "dither": ("COMBO", {"multiselect": False, "options": list(DITHER_MODES)}),
            }
        }

    def quantize(self, image: torch.Tensor, colors: int, dither: str) -> tuple[torch.Tensor]:
        if dither not in DITHER_MODES:
            raise ValueError(f"unknown dither mode {dither!r}; expected one of {DITHER_MODES}")
        out = []
        for frame in _as_rgb(image):
            check_interrupt()  # between the images of a batch
            # Truncation to bytes, as ComfyUI converts before quantizing.
            im = Image.fromarray((frame.clamp(0, 1) * 255).to(torch.uint8).cpu().numpy())
            out.append(torch.from_numpy(np.asarray(quantize_image(im, colors, dither), dtype=np.float32) / 255))
        return (torch.stack(out).to(image.device),)


def _as_rgb(image: torch.Tensor) -> torch.Tensor:
    channels = image.shape[-1]
    if channels == 1:
        return image.repeat(1, 1, 1, 3)
    if channels < 3:
        raise ValueError(f"cannot quantize an image with {channels} channels")
    return image[..., :3]  # alpha (or anything past RGB) is dropped: the output is RGB


def quantize_image(im: Image.Image, colors: int, dither: str) -> Image.Image:
    """An RGB image reduced to a palette of at most `colors` colours built by PIL's quantizer."""
    # The palette comes from a quantize of its own: PIL only dithers when mapping onto a given palette.
    palette = im.quantize(colors=colors)
    if dither == "none":
        mapped = im.quantize(palette=palette, dither=Image.Dither.NONE)
    elif dither == "floyd-steinberg":
        mapped = im.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    else:
        order = int(dither.split("-")[-1])
        mapped = _bayer(im, palette, order)
    return mapped.convert("RGB")


def _bayer(im: Image.Image, palette: Image.Image, order: int) -> Image.Image:
    num_colors = len(palette.getpalette() or []) // 3
    spread = 2 * 256 / max(num_colors, 1)
    matrix = spread * _bayer_matrix(int(math.log2(order))) + 0.5  # (order, order)
    pixels = np.asarray(im, dtype=np.float32).copy()  # (h, w, 3)
    height, width = pixels.shape[:2]
    reps = (math.ceil(height / order), math.ceil(width / order))
    # Cut the tiled matrix to the image, so sizes that are not multiples of the order work too.
    pixels += np.tile(matrix, reps)[:height, :width, None]
    dithered = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return dithered.quantize(palette=palette, dither=Image.Dither.NONE)


def _bayer_matrix(n: int) -> npt.NDArray[np.float64]:
    """The 2^n x 2^n ordered-dither (Bayer) matrix, centred on zero, values within -0.5..0.5."""
    if n == 0:
        return np.zeros((1, 1), dtype=np.float64)
    q = 4**n
    m = q * _bayer_matrix(n - 1)
    matrix: npt.NDArray[np.float64] = np.block([[m - 1.5, m + 0.5], [m + 1.5, m - 0.5]]) / q
    return matrix
