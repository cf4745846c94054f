"""ImageBlend, ImageBlur, ImageSharpen and ImageQuantize."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from impasto.nodes.image import common_upscale
from impasto.nodes.postprocessing import (
    ImageBlend,
    ImageBlur,
    ImageQuantize,
    ImageSharpen,
    gaussian_kernel,
    quantize_image,
    sharpen_kernel,
)


def pixels(*values: float) -> torch.Tensor:
    """A 1x1xN single-channel IMAGE holding `values` along the width."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, len(values), 1)


def ramp(batch: int, height: int, width: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, height, width, channels), generator=generator).float() / 255


SQRT_06 = math.sqrt(0.6)


@pytest.mark.parametrize(
    ("mode", "a", "b", "expected"),
    [
        ("normal", (0.2, 0.6), (0.4, 0.9), (0.4, 0.9)),
        ("multiply", (0.2, 0.6), (0.4, 0.9), (0.08, 0.54)),
        ("screen", (0.2, 0.6), (0.4, 0.9), (0.52, 0.96)),
        ("overlay", (0.2, 0.6), (0.4, 0.9), (0.16, 0.92)),  # 2ab where a <= 0.5, else 1 - 2(1-a)(1-b)
        ("overlay", (0.5,), (0.4,), (0.4,)),  # a == 0.5 takes the first branch
        # b <= 0.5: a - (1-2b)a(1-a); b > 0.5 with a > 0.25: a + (2b-1)(sqrt(a) - a)
        ("soft_light", (0.2, 0.6), (0.4, 0.9), (0.168, 0.6 + 0.8 * (SQRT_06 - 0.6))),
        # b > 0.5 with a <= 0.25: g(a) = ((16a - 12)a + 4)a = 0.448 for a = 0.2
        ("soft_light", (0.2,), (0.9,), (0.2 + 0.8 * (0.448 - 0.2),)),
        ("difference", (0.6, 0.2), (0.2, 0.6), (0.4, 0.0)),  # signed, then clamped
    ],
)
def test_blend_modes_at_full_factor(
    mode: str, a: tuple[float, ...], b: tuple[float, ...], expected: tuple[float, ...]
) -> None:
    (out,) = ImageBlend().blend_images(pixels(*a), pixels(*b), 1.0, mode)
    assert_close(out, pixels(*expected), rtol=0, atol=1e-6)


def test_blend_factor_mixes_with_image1() -> None:
    a, b = pixels(0.2, 0.6), pixels(0.4, 0.9)
    (out,) = ImageBlend().blend_images(a, b, 0.25, "multiply")
    assert_close(out, a * 0.75 + a * b * 0.25, rtol=0, atol=1e-7)
    (same,) = ImageBlend().blend_images(a, b, 0.0, "screen")
    assert_close(same, a, rtol=0, atol=0)


def test_blend_drops_extra_channels_of_image2() -> None:
    a, b = ramp(1, 4, 4, 3, seed=1), ramp(1, 4, 4, 4, seed=2)
    (out,) = ImageBlend().blend_images(a, b, 1.0, "normal")
    assert_close(out, b[..., :3], rtol=0, atol=0)


def test_blend_fails_when_image1_has_more_channels() -> None:
    with pytest.raises(ValueError, match="channels"):
        ImageBlend().blend_images(ramp(1, 4, 4, 4), ramp(1, 4, 4, 3), 0.5, "normal")


def test_blend_resizes_image2_bicubic_center_crop() -> None:
    a, b = ramp(1, 4, 4, seed=1), ramp(1, 6, 12, seed=2)
    (out,) = ImageBlend().blend_images(a, b, 1.0, "normal")
    expected = common_upscale(b.movedim(-1, 1), 4, 4, "bicubic", "center").movedim(1, -1).clamp(0, 1)
    assert_close(out, expected, rtol=0, atol=0)


def test_blend_declaration_is_v3() -> None:
    required = ImageBlend.INPUT_TYPES()["required"]
    assert list(required) == ["image1", "image2", "blend_factor", "blend_mode"]
    assert required["image1"] == ("IMAGE", {})
    assert required["blend_factor"] == ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01})
    assert required["blend_mode"] == (
        "COMBO",
        {"multiselect": False, "options": ["normal", "multiply", "screen", "overlay", "soft_light", "difference"]},
    )
    assert ImageBlend.CATEGORY == "image/postprocessing"
    assert (ImageBlend.OUTPUT_TOOLTIPS, ImageBlend.DEPRECATED, ImageBlend.API_NODE) == ((None,), False, False)


def test_gaussian_kernel_is_sampled_on_a_unit_grid() -> None:
    kernel = gaussian_kernel(3, 1.0)
    assert_close(kernel.sum(), torch.tensor(1.0), rtol=0, atol=1e-6)
    # taps at distance 0, 1 and sqrt(2) on the -1..1 grid: exp(-d^2 / 2)
    raw = torch.tensor([[math.exp(-1), math.exp(-0.5), math.exp(-1)], [math.exp(-0.5), 1.0, math.exp(-0.5)]])
    expected = torch.cat([raw, raw[:1]]) / torch.cat([raw, raw[:1]]).sum()
    assert_close(kernel, expected, rtol=0, atol=1e-7)
    # the same sigma over a wider radius keeps the shape relative to the radius
    wide = gaussian_kernel(7, 1.0)
    assert_close(wide[0, 0] / wide[3, 3], kernel[0, 0] / kernel[1, 1], rtol=1e-5, atol=0)


def reference_convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Reflect-padded per-channel convolution, written with numpy loops."""
    r = kernel.shape[0] // 2
    data = image.numpy().astype(np.float64)
    k = kernel.numpy().astype(np.float64)
    padded = np.pad(data, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    out = np.zeros_like(data)
    for y in range(data.shape[1]):
        for x in range(data.shape[2]):
            window = padded[:, y : y + 2 * r + 1, x : x + 2 * r + 1, :]
            out[:, y, x, :] = np.einsum("bhwc,hw->bc", window, k)
    return torch.from_numpy(out).float()


@pytest.mark.parametrize(("radius", "sigma"), [(1, 1.0), (2, 0.5), (3, 10.0)])
def test_blur_is_a_reflect_padded_gaussian(radius: int, sigma: float) -> None:
    image = ramp(2, 7, 9, 4)
    (out,) = ImageBlur().blur(image, radius, sigma)
    assert out.shape == image.shape
    assert_close(out, reference_convolve(image, gaussian_kernel(2 * radius + 1, sigma)), rtol=0, atol=1e-5)


def test_blur_keeps_a_constant_image() -> None:
    image = torch.full((1, 6, 6, 3), 0.3)
    (out,) = ImageBlur().blur(image, 2, 1.0)
    assert_close(out, image, rtol=0, atol=1e-6)


def test_sharpen_kernel_sums_to_one_with_a_raised_centre() -> None:
    kernel = sharpen_kernel(2, 1.0, 0.5)
    assert_close(kernel.sum(), torch.tensor(1.0), rtol=0, atol=1e-5)
    gaussian = gaussian_kernel(5, 1.0)
    off_centre = torch.ones(5, 5, dtype=torch.bool)
    off_centre[2, 2] = False
    assert_close(kernel[off_centre], (gaussian * -5.0)[off_centre], rtol=0, atol=1e-7)
    assert kernel[2, 2] > 1.0
    assert_close(sharpen_kernel(1, 1.0, 0.0), torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]), rtol=0, atol=0)


def test_sharpen_convolves_and_clamps() -> None:
    image = ramp(1, 6, 8)
    (out,) = ImageSharpen().sharpen(image, 1, 1.0, 1.0)
    assert out.shape == image.shape
    expected = reference_convolve(image, sharpen_kernel(1, 1.0, 1.0)).clamp(0, 1)
    assert_close(out, expected, rtol=0, atol=1e-5)
    assert out.min() >= 0 and out.max() <= 1
    (identity,) = ImageSharpen().sharpen(image, 3, 1.0, 0.0)
    assert_close(identity, image, rtol=0, atol=1e-6)


def test_blur_and_sharpen_declarations() -> None:
    blur = ImageBlur.INPUT_TYPES()["required"]
    assert blur == {
        "image": ("IMAGE", {}),
        "blur_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1}),
        "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1}),
    }
    sharpen = ImageSharpen.INPUT_TYPES()["required"]
    assert list(sharpen) == ["image", "sharpen_radius", "sigma", "alpha"]
    assert sharpen["sigma"] == ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.01})
    assert sharpen["alpha"] == ("FLOAT", {"default": 1.0, "min": 0.0, "max": 5.0, "step": 0.01})


def gradient(height: int, width: int) -> torch.Tensor:
    ys = torch.linspace(0, 1, height).reshape(height, 1, 1)
    xs = torch.linspace(0, 1, width).reshape(1, width, 1)
    return torch.cat([ys.expand(height, width, 1), xs.expand(height, width, 1), (ys * xs)], dim=-1).unsqueeze(0)


@pytest.mark.parametrize("dither", ["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"])
def test_quantize_limits_the_palette(dither: str) -> None:
    image = torch.cat([gradient(13, 21), gradient(13, 21).flip(1)])  # sizes that are no multiple of any order
    (out,) = ImageQuantize().quantize(image, 4, dither)
    assert out.shape == (2, 13, 21, 3)
    for frame in out:
        assert len(torch.unique(frame.reshape(-1, 3), dim=0)) <= 4
    assert torch.all((out * 255 - (out * 255).round()).abs() < 1e-4)


def test_quantize_none_maps_onto_pils_palette() -> None:
    image = gradient(10, 10)
    (out,) = ImageQuantize().quantize(image, 8, "none")
    im = Image.fromarray((image[0] * 255).to(torch.uint8).numpy())
    expected = im.quantize(palette=im.quantize(colors=8), dither=Image.Dither.NONE).convert("RGB")
    assert_close(out[0], torch.from_numpy(np.asarray(expected, dtype=np.float32) / 255), rtol=0, atol=0)


def test_quantize_keeps_an_image_that_fits_the_palette() -> None:
    image = torch.zeros((1, 4, 4, 3))
    image[0, :2] = torch.tensor([1.0, 0.0, 0.0])
    (out,) = ImageQuantize().quantize(image, 2, "floyd-steinberg")
    assert_close(out, image, rtol=0, atol=0)


def test_quantize_dithering_changes_the_mapping() -> None:
    im = Image.fromarray((gradient(16, 16)[0] * 255).to(torch.uint8).numpy())
    plain = np.asarray(quantize_image(im, 2, "none"))
    assert not np.array_equal(plain, np.asarray(quantize_image(im, 2, "floyd-steinberg")))
    assert not np.array_equal(plain, np.asarray(quantize_image(im, 2, "bayer-4")))


def test_quantize_outputs_rgb_for_rgba_input() -> None:
    (out,) = ImageQuantize().quantize(ramp(1, 4, 4, 4), 16, "none")
    assert out.shape == (1, 4, 4, 3)


def test_quantize_declaration() -> None:
    required = ImageQuantize.INPUT_TYPES()["required"]
    assert required["colors"] == ("INT", {"default": 256, "min": 1, "max": 256, "step": 1})
    assert required["dither"] == (
        "COMBO",
        {"multiselect": False, "options": ["none", "floyd-steinberg", "bayer-2", "bayer-4", "bayer-8", "bayer-16"]},
    )
