"""Core image nodes: EmptyImage, scaling, invert, batch, crop, outpaint padding, batch slicing and rebatching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from impasto.nodes.image import (
    EmptyImage,
    ImageBatch,
    ImageCrop,
    ImageFromBatch,
    ImageInvert,
    ImagePadForOutpaint,
    ImageScale,
    ImageScaleBy,
    ImageScaleToTotalPixels,
    RebatchImages,
    RepeatImageBatch,
    center_crop_to_aspect,
    common_upscale,
)


def ramp(batch: int, height: int, width: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """A deterministic IMAGE whose values are multiples of 1/255."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, height, width, channels), generator=generator).float() / 255


def test_empty_image_reads_color_as_rgb_bytes() -> None:
    (image,) = EmptyImage().generate(width=5, height=3, batch_size=2, color=0x12FF80)
    assert image.shape == (2, 3, 5, 3)
    assert image.dtype == torch.float32
    expected = torch.tensor([0x12 / 255, 1.0, 0x80 / 255])
    assert_close(image, expected.expand(2, 3, 5, 3), rtol=0, atol=0)
    assert image.is_contiguous()


def test_empty_image_declaration() -> None:
    required = EmptyImage.INPUT_TYPES()["required"]
    assert list(required) == ["width", "height", "batch_size", "color"]
    assert required["color"] == ("INT", {"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"})
    assert required["batch_size"] == ("INT", {"default": 1, "min": 1, "max": 4096})
    assert EmptyImage.CATEGORY == "image"


def test_image_scale_declaration_is_v1() -> None:
    required = ImageScale.INPUT_TYPES()["required"]
    assert list(required) == ["image", "upscale_method", "width", "height", "crop"]
    assert required["image"] == ("IMAGE",)
    assert required["upscale_method"] == (["nearest-exact", "bilinear", "area", "bicubic", "lanczos"],)
    assert required["width"] == ("INT", {"default": 512, "min": 0, "max": 16384, "step": 1})
    assert required["crop"] == (["disabled", "center"],)


def test_image_scale_both_zero_returns_the_input() -> None:
    image = ramp(1, 4, 6)
    (out,) = ImageScale().upscale(image, "bilinear", 0, 0, "disabled")
    assert out is image


@pytest.mark.parametrize(
    ("size", "width", "height", "expected"),
    [
        ((50, 100), 0, 25, (25, 50)),  # (h, w): width derived from height
        ((50, 100), 30, 0, (15, 30)),  # height derived from width
        ((2, 3), 0, 3, (3, 4)),  # round(4.5) is 4: Python rounding
        ((100, 1), 0, 10, (10, 1)),  # never below one pixel
    ],
)
def test_image_scale_derives_a_zero_side_from_the_aspect(
    size: tuple[int, int], width: int, height: int, expected: tuple[int, int]
) -> None:
    (out,) = ImageScale().upscale(ramp(1, *size), "nearest-exact", width, height, "disabled")
    assert tuple(out.shape[1:3]) == expected


def test_image_scale_disabled_stretches() -> None:
    (out,) = ImageScale().upscale(ramp(2, 4, 8), "bilinear", 3, 5, "disabled")
    assert out.shape == (2, 5, 3, 3)


def test_center_crop_removes_equal_amounts_from_the_long_side() -> None:
    samples = ramp(1, 2, 8).movedim(-1, 1)  # (1, 3, 2, 8)
    cropped = center_crop_to_aspect(samples, 2, 2)
    assert_close(cropped, samples[..., :, 3:5], rtol=0, atol=0)
    tall = ramp(1, 9, 3).movedim(-1, 1)
    assert_close(center_crop_to_aspect(tall, 1, 1), tall[..., 3:6, :], rtol=0, atol=0)
    # (5 - 5 * 0.4) / 2 = 1.5 rounds to 2: one row of five remains
    assert center_crop_to_aspect(ramp(1, 5, 2).movedim(-1, 1), 2, 2).shape[-2:] == (1, 2)


def test_image_scale_center_crops_then_resizes() -> None:
    image = ramp(1, 2, 8)
    (out,) = ImageScale().upscale(image, "nearest-exact", 2, 2, "center")
    assert_close(out, image[:, :, 3:5, :], rtol=0, atol=0)


@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "area", "bicubic"])
def test_torch_methods_match_interpolate_without_antialiasing(method: str) -> None:
    image = ramp(2, 6, 10)
    (out,) = ImageScale().upscale(image, method, 7, 4, "disabled")
    expected = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(4, 7), mode=method).movedim(1, -1)
    assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("channels", [3, 4])
def test_lanczos_goes_through_pil_in_eight_bits(channels: int) -> None:
    image = ramp(2, 8, 12, channels)
    (out,) = ImageScale().upscale(image, "lanczos", 5, 7, "disabled")
    assert out.shape == (2, 7, 5, channels)
    for index in range(2):
        pixels = (image[index].numpy() * 255).round().astype(np.uint8)
        pil = Image.fromarray(pixels).resize((5, 7), resample=Image.Resampling.LANCZOS)
        assert_close(out[index], torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255), rtol=0, atol=0)


def test_lanczos_on_one_channel() -> None:
    image = ramp(1, 8, 8, 1)
    out = common_upscale(image.movedim(-1, 1), 4, 4, "lanczos", "disabled")
    assert out.shape == (1, 1, 4, 4)
    assert torch.all((out * 255 - (out * 255).round()).abs() < 1e-4)  # whole bytes


def test_unknown_upscale_method_fails() -> None:
    with pytest.raises(ValueError, match="unknown upscale method"):
        ImageScale().upscale(ramp(1, 2, 2), "bislerp2", 4, 4, "disabled")


def test_image_scale_by_rounds_each_side() -> None:
    (out,) = ImageScaleBy().upscale(ramp(1, 10, 15), "bilinear", 1.5)
    assert out.shape == (1, 15, 22, 3)  # round(22.5) == 22
    assert ImageScaleBy.INPUT_TYPES()["required"]["scale_by"] == (
        "FLOAT",
        {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01},
    )


def test_image_scale_by_refuses_an_empty_result() -> None:
    with pytest.raises(ValueError, match="at least 1 pixel"):
        ImageScaleBy().upscale(ramp(1, 1, 1), "bilinear", 0.01)


def test_image_scale_to_total_pixels_keeps_the_aspect() -> None:
    # total = int(0.01 * 1024 * 1024) = 10485; scale = sqrt(10485 / 5000)
    (out,) = ImageScaleToTotalPixels().upscale(ramp(1, 50, 100), "bilinear", 0.01)
    assert out.shape == (1, 72, 145, 3)


def test_image_scale_to_total_pixels_declaration_is_v3() -> None:
    required = ImageScaleToTotalPixels.INPUT_TYPES()["required"]
    assert required == {
        "image": ("IMAGE", {}),
        "upscale_method": (
            "COMBO",
            {"multiselect": False, "options": ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]},
        ),
        "megapixels": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 16.0, "step": 0.01}),
    }
    assert ImageScaleToTotalPixels.OBJECT_INFO_V3 is True
    assert ImageScaleToTotalPixels.RELATIVE_PYTHON_MODULE == "comfy_extras.nodes_post_processing"


def test_invert_every_channel() -> None:
    image = ramp(2, 3, 3, 4)
    (out,) = ImageInvert().invert(image)
    assert_close(out, 1.0 - image, rtol=0, atol=0)


def test_batch_concatenates_in_order() -> None:
    a, b = ramp(2, 4, 4, seed=1), ramp(1, 4, 4, seed=2)
    (out,) = ImageBatch().batch(a, b)
    assert_close(out, torch.cat([a, b]), rtol=0, atol=0)


def test_batch_resizes_image2_bilinear_center_crop() -> None:
    a, b = ramp(1, 4, 4, seed=1), ramp(2, 6, 12, seed=2)
    (out,) = ImageBatch().batch(a, b)
    assert out.shape == (3, 4, 4, 3)
    expected = common_upscale(b.movedim(-1, 1), 4, 4, "bilinear", "center").movedim(1, -1)
    assert_close(out[1:], expected, rtol=0, atol=0)


def test_batch_refuses_a_channel_mismatch() -> None:
    with pytest.raises(ValueError, match="channel"):
        ImageBatch().batch(ramp(1, 4, 4, 3), ramp(1, 4, 4, 4))


def test_crop_cuts_the_region() -> None:
    image = ramp(2, 10, 12)
    (out,) = ImageCrop().crop(image, width=4, height=3, x=2, y=5)
    assert_close(out, image[:, 5:8, 2:6, :], rtol=0, atol=0)


def test_crop_clips_at_the_edge_and_clamps_the_origin() -> None:
    image = ramp(1, 10, 12)
    (out,) = ImageCrop().crop(image, width=8, height=8, x=9, y=6)
    assert out.shape == (1, 4, 3, 3)
    (corner,) = ImageCrop().crop(image, width=5, height=5, x=500, y=500)
    assert_close(corner, image[:, 9:, 11:, :], rtol=0, atol=0)
    assert ImageCrop.CATEGORY == "image/transform"
    assert ImageCrop.RELATIVE_PYTHON_MODULE == "comfy_extras.nodes_images"


def reference_feather(
    height: int, width: int, left: int, top: int, right: int, bottom: int, feathering: int
) -> torch.Tensor:
    """The spec's feathering rule, written as a plain loop."""
    t = torch.zeros((height, width), dtype=torch.float32)
    if not (feathering > 0 and feathering * 2 < height and feathering * 2 < width):
        return t
    for i in range(height):
        for j in range(width):
            d = min(
                i if top else height,
                height - i if bottom else height,
                j if left else width,
                width - j if right else width,
            )
            if d < feathering:
                t[i, j] = ((feathering - d) / feathering) ** 2
    return t


def test_pad_for_outpaint_grey_margins_and_mask() -> None:
    image = ramp(2, 10, 12)
    (out, mask) = ImagePadForOutpaint().expand_image(image, left=3, top=2, right=0, bottom=5, feathering=0)
    assert out.shape == (2, 17, 15, 3)
    assert_close(out[:, 2:12, 3:15, :], image, rtol=0, atol=0)
    assert torch.all(out[:, :2] == 0.5) and torch.all(out[:, :, :3] == 0.5) and torch.all(out[:, 12:] == 0.5)
    assert mask.shape == (1, 17, 15)
    expected = torch.ones((17, 15))
    expected[2:12, 3:15] = 0
    assert_close(mask[0], expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("margins", "feathering"),
    [((4, 0, 0, 0), 3), ((0, 8, 0, 8), 4), ((8, 8, 8, 8), 2), ((0, 0, 8, 0), 1), ((8, 0, 0, 0), 6)],
)
def test_pad_for_outpaint_feathering(margins: tuple[int, int, int, int], feathering: int) -> None:
    left, top, right, bottom = margins
    image = ramp(1, 10, 12)
    (_, mask) = ImagePadForOutpaint().expand_image(image, left, top, right, bottom, feathering)
    inner = mask[0, top : top + 10, left : left + 12]
    assert_close(inner, reference_feather(10, 12, left, top, right, bottom, feathering), rtol=0, atol=0)


def test_pad_for_outpaint_feathering_values() -> None:
    (_, mask) = ImagePadForOutpaint().expand_image(ramp(1, 10, 10), left=4, top=0, right=0, bottom=0, feathering=3)
    row = mask[0, 5, 4:]
    assert_close(row[:4], torch.tensor([1.0, (2 / 3) ** 2, (1 / 3) ** 2, 0.0]), rtol=0, atol=1e-7)


def test_pad_for_outpaint_declaration() -> None:
    required = ImagePadForOutpaint.INPUT_TYPES()["required"]
    assert list(required) == ["image", "left", "top", "right", "bottom", "feathering"]
    assert required["left"] == ("INT", {"default": 0, "min": 0, "max": 16384, "step": 8})
    assert required["feathering"] == ("INT", {"default": 40, "min": 0, "max": 16384, "step": 1})
    assert ImagePadForOutpaint.RETURN_TYPES == ("IMAGE", "MASK")


def test_from_batch_clamps_and_copies() -> None:
    image = ramp(5, 2, 2)
    (out,) = ImageFromBatch().frombatch(image, batch_index=1, length=2)
    assert_close(out, image[1:3], rtol=0, atol=0)
    out.zero_()
    assert image[1].sum() > 0
    (last,) = ImageFromBatch().frombatch(image, batch_index=99, length=3)
    assert_close(last, image[4:5], rtol=0, atol=0)
    (rest,) = ImageFromBatch().frombatch(image, batch_index=3, length=4096)
    assert rest.shape[0] == 2


def test_repeat_image_batch_repeats_the_whole_batch_in_sequence() -> None:
    image = ramp(2, 2, 2)
    (out,) = RepeatImageBatch().repeat(image, amount=3)
    assert_close(out, torch.cat([image, image, image]), rtol=0, atol=0)


def test_rebatch_splits_and_regroups() -> None:
    first, second = ramp(3, 2, 2, seed=1), ramp(2, 2, 2, seed=2)
    (batches,) = RebatchImages().rebatch([first, second], batch_size=[2])
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    assert_close(torch.cat(batches), torch.cat([first, second]), rtol=0, atol=0)
    (singles,) = RebatchImages().rebatch([first], batch_size=[1])
    assert [b.shape[0] for b in singles] == [1, 1, 1]
    (one,) = RebatchImages().rebatch([first, second], batch_size=[4096])
    assert [b.shape[0] for b in one] == [5]


def test_rebatch_declaration() -> None:
    assert RebatchImages.INPUT_TYPES() == {
        "required": {"images": ("IMAGE", {}), "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}
    }
    assert RebatchImages.INPUT_IS_LIST is True
    assert RebatchImages.OUTPUT_IS_LIST == (True,)
    assert RebatchImages.OUTPUT_TOOLTIPS == (None,)
    assert RebatchImages.CATEGORY == "image/batch"
    assert RebatchImages.RELATIVE_PYTHON_MODULE == "comfy_extras.nodes_rebatch"
