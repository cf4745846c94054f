"""LoadImage, SaveImage and PreviewImage against real files in a temporary base folder."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from torch.testing import assert_close

from impasto.nodes.image_io import LoadImage, PreviewImage, SaveImage
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders, PathEscapeError


def ramp(batch: int, height: int, width: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, height, width, channels), generator=generator).float() / 255


def as_image(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32) / 255)


def read_png(path: Path) -> tuple[dict[str, str], np.ndarray]:
    with Image.open(path) as im:
        im.load()
        return dict(getattr(im, "text", {})), np.asarray(im)


# --- LoadImage ---


def test_load_image_lists_input_images_per_call(folders: Folders) -> None:
    Image.new("RGB", (2, 2)).save(folders.input / "b.png")
    (folders.input / "notes.txt").write_text("not an image")
    first = LoadImage.INPUT_TYPES()
    assert first == {"required": {"image": (["b.png"], {"image_upload": True})}}
    Image.new("RGB", (2, 2)).save(folders.input / "a.jpg")
    assert LoadImage.INPUT_TYPES()["required"]["image"] == (["a.jpg", "b.png"], {"image_upload": True})


def test_load_rgb_gives_pixels_and_a_64x64_zero_mask(folders: Folders) -> None:
    array = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    Image.fromarray(array).save(folders.input / "rgb.png")
    image, mask = LoadImage().load_image("rgb.png")
    assert image.shape == (1, 4, 5, 3) and image.dtype == torch.float32
    assert_close(image[0], as_image(array), rtol=0, atol=0)
    assert mask.shape == (1, 64, 64)
    assert torch.count_nonzero(mask) == 0


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_load_alpha_gives_an_inverted_mask(folders: Folders, mode: str) -> None:
    alpha = np.array([[0, 64], [255, 128]], dtype=np.uint8)
    colour = np.full((2, 2, 3 if mode == "RGBA" else 1), 200, dtype=np.uint8)
    Image.fromarray(np.concatenate([colour, alpha[..., None]], axis=-1)).save(folders.input / "alpha.png")
    image, mask = LoadImage().load_image("alpha.png")
    assert image.shape == (1, 2, 2, 3)
    assert_close(mask[0], 1.0 - as_image(alpha), rtol=0, atol=0)


def test_load_palette_transparency_gives_a_mask(folders: Folders) -> None:
    im = Image.new("P", (3, 2), 0)
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    im.putpixel((1, 0), 1)
    im.putpixel((2, 1), 2)
    im.save(folders.input / "palette.png", transparency=1)
    image, mask = LoadImage().load_image("palette.png")
    assert_close(mask[0], torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), rtol=0, atol=0)
    assert_close(image[0, 1, 2], torch.tensor([0.0, 1.0, 0.0]), rtol=0, atol=0)


def test_load_applies_exif_orientation(folders: Folders) -> None:
    im = Image.new("RGB", (4, 2))
    im.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(folders.input / "rotated.png", exif=exif)
    image, _ = LoadImage().load_image("rotated.png")
    assert image.shape == (1, 4, 2, 3)
    assert_close(image[0, 0, 1], torch.ones(3), rtol=0, atol=0)
    assert image.sum() == 3.0


def test_load_integer_mode_divides_by_255(folders: Folders) -> None:
    values = np.array([[510, 25500], [65535, 0]], dtype=np.int32)
    Image.fromarray(values).save(folders.input / "deep.tif")
    image, mask = LoadImage().load_image("deep.tif")
    expected = torch.tensor([[2.0, 100.0], [255.0, 0.0]]) / 255  # 65535 / 255 = 257 clips to 255
    assert_close(image[0], expected[..., None].expand(2, 2, 3), rtol=0, atol=0)
    assert mask.shape == (1, 64, 64)


def test_load_multi_frame_keeps_frames_of_the_first_size(folders: Folders) -> None:
    first = Image.new("RGB", (4, 4), (10, 20, 30))
    other_size = Image.new("RGB", (5, 5), (1, 1, 1))
    third = Image.new("RGB", (4, 4), (40, 50, 60))
    first.save(folders.input / "pages.tif", save_all=True, append_images=[other_size, third])
    image, mask = LoadImage().load_image("pages.tif")
    assert image.shape == (2, 4, 4, 3)
    assert_close(image[1, 0, 0], torch.tensor([40.0, 50.0, 60.0]) / 255, rtol=0, atol=0)
    assert mask.shape == (2, 64, 64)


def test_load_animation_frames(folders: Folders) -> None:
    frames = [Image.new("RGBA", (3, 3), (255, 0, 0, a)) for a in (255, 0, 100)]
    frames[0].save(folders.input / "anim.png", save_all=True, append_images=frames[1:], duration=10)
    image, mask = LoadImage().load_image("anim.png")
    assert image.shape == (3, 3, 3, 3)
    assert_close(mask[:, 0, 0], torch.tensor([0.0, 1.0, 1 - 100 / 255]), rtol=0, atol=1e-6)


def test_load_mixed_alpha_frames_widens_the_placeholder_masks(folders: Folders) -> None:
    opaque = Image.new("RGB", (4, 4), (1, 2, 3))
    clear = Image.new("RGBA", (4, 4), (1, 2, 3, 0))
    opaque.save(folders.input / "mixed.tif", save_all=True, append_images=[clear])
    _, mask = LoadImage().load_image("mixed.tif")
    assert mask.shape == (2, 4, 4)
    assert_close(mask, torch.stack([torch.zeros(4, 4), torch.ones(4, 4)]), rtol=0, atol=0)


def test_load_mpo_gives_the_first_frame_only(folders: Folders) -> None:
    left = Image.new("RGB", (8, 6), (250, 0, 0))
    right = Image.new("RGB", (8, 6), (0, 0, 250))
    left.save(folders.input / "stereo.mpo", save_all=True, append_images=[right])
    with Image.open(folders.input / "stereo.mpo") as check:
        assert check.format == "MPO" and getattr(check, "n_frames", 1) == 2
    image, mask = LoadImage().load_image("stereo.mpo")
    assert image.shape == (1, 6, 8, 3)
    assert image[0, 3, 4, 0] > 0.9 and image[0, 3, 4, 2] < 0.1
    assert mask.shape == (1, 64, 64)


def test_load_annotated_and_subfolder_names(folders: Folders) -> None:
    (folders.output / "run").mkdir()
    Image.new("RGB", (2, 3), (255, 255, 255)).save(folders.output / "run" / "out.png")
    image, _ = LoadImage().load_image("run/out.png [output]")
    assert image.shape == (1, 3, 2, 3)
    with pytest.raises(PathEscapeError):
        LoadImage().load_image("../secret.png")


def test_is_changed_is_the_sha256_of_the_bytes(folders: Folders) -> None:
    path = folders.input / "a.png"
    Image.new("RGB", (2, 2), (1, 2, 3)).save(path)
    first = LoadImage.IS_CHANGED("a.png")
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()
    assert LoadImage.IS_CHANGED("a.png") == first
    Image.new("RGB", (2, 2), (9, 9, 9)).save(path)
    assert LoadImage.IS_CHANGED("a.png") != first


def test_validate_inputs_accepts_existing_files_and_names_the_missing(folders: Folders) -> None:
    Image.new("RGB", (2, 2)).save(folders.input / "a.png")
    (folders.input / "sub").mkdir()
    Image.new("RGB", (2, 2)).save(folders.input / "sub" / "b.png")
    Image.new("RGB", (2, 2)).save(folders.temp / "t.png")
    assert LoadImage.VALIDATE_INPUTS("a.png") is True
    assert LoadImage.VALIDATE_INPUTS("sub/b.png") is True
    assert LoadImage.VALIDATE_INPUTS("t.png [temp]") is True
    assert LoadImage.VALIDATE_INPUTS("missing.png") == "Invalid image file: missing.png"
    assert LoadImage.VALIDATE_INPUTS("t.png") == "Invalid image file: t.png"
    assert LoadImage.VALIDATE_INPUTS("../input/a.png [temp]") == "Invalid image file: ../input/a.png [temp]"
    assert LoadImage.VALIDATE_INPUTS("sub") == "Invalid image file: sub"


# --- SaveImage ---


def test_save_writes_numbered_pngs_and_reports_them(folders: Folders) -> None:
    images = ramp(2, 3, 4)
    result = SaveImage().save_images(images, "ComfyUI")
    assert result == {
        "ui": {
            "images": [
                {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
                {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"},
            ]
        }
    }
    _, pixels = read_png(folders.output / "ComfyUI_00002_.png")
    assert_close(as_image(pixels), images[1], rtol=0, atol=0)


def test_save_continues_after_existing_files(folders: Folders) -> None:
    (folders.output / "ComfyUI_00041_.png").write_bytes(b"")
    (folders.output / "ComfyUI_00007_.png").write_bytes(b"")
    SaveImage().save_images(ramp(1, 2, 2), "ComfyUI")
    result = SaveImage().save_images(ramp(2, 2, 2), "ComfyUI")
    assert [i["filename"] for i in result["ui"]["images"]] == ["ComfyUI_00043_.png", "ComfyUI_00044_.png"]


def names(result: Any) -> list[str]:
    return [i["filename"] for i in result["ui"]["images"]]


def test_a_file_another_writer_adds_between_saves_is_counted(folders: Folders) -> None:
    assert names(SaveImage().save_images(ramp(1, 2, 2), "ComfyUI")) == ["ComfyUI_00001_.png"]
    (folders.output / "ComfyUI_00009_.png").write_bytes(b"theirs")
    assert names(SaveImage().save_images(ramp(1, 2, 2), "ComfyUI")) == ["ComfyUI_00010_.png"]


def test_a_clash_the_folder_time_does_not_show_never_overwrites(folders: Folders) -> None:
    SaveImage().save_images(ramp(1, 2, 2), "ComfyUI")
    stat = os.stat(folders.output)
    for name in ["ComfyUI_00002_.png", "ComfyUI_00003_.png"]:  # written in the same timestamp tick, say
        (folders.output / name).write_bytes(b"theirs")
    os.utime(folders.output, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert names(SaveImage().save_images(ramp(2, 2, 2), "ComfyUI")) == ["ComfyUI_00004_.png", "ComfyUI_00005_.png"]
    assert (folders.output / "ComfyUI_00002_.png").read_bytes() == b"theirs"
    assert (folders.output / "ComfyUI_00003_.png").read_bytes() == b"theirs"


def test_save_into_a_subfolder_with_tokens(folders: Folders) -> None:
    result = SaveImage().save_images(ramp(2, 3, 5), "shots/%width%x%height%/img_%batch_num%")
    assert result["ui"]["images"] == [
        {"filename": "img_0_00001_.png", "subfolder": "shots/5x3", "type": "output"},
        {"filename": "img_1_00002_.png", "subfolder": "shots/5x3", "type": "output"},
    ]
    assert (folders.output / "shots" / "5x3" / "img_1_00002_.png").is_file()
    again = SaveImage().save_images(ramp(1, 3, 5), "shots/%width%x%height%/img_%batch_num%")
    assert again["ui"]["images"][0]["filename"] == "img_0_00003_.png"


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/escape", "a/../../escape"])
def test_save_refuses_a_prefix_outside_the_output_folder(folders: Folders, prefix: str) -> None:
    with pytest.raises(ValueError, match="outside the output folder") as info:
        SaveImage().save_images(ramp(1, 2, 2), prefix)
    assert isinstance(info.value.__cause__, PathEscapeError)
    assert not (folders.base / "escape_00001_.png").exists()


def test_save_writes_prompt_and_extra_pnginfo_chunks(folders: Folders) -> None:
    prompt = {"1": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI"}}}
    extra = {"workflow": {"nodes": [1, 2]}, "note": "héllo"}
    SaveImage().save_images(ramp(1, 2, 2), "meta", prompt=prompt, extra_pnginfo=extra)
    text, _ = read_png(folders.output / "meta_00001_.png")
    assert set(text) == {"prompt", "workflow", "note"}
    assert json.loads(text["prompt"]) == prompt
    assert json.loads(text["workflow"]) == {"nodes": [1, 2]}
    assert json.loads(text["note"]) == "héllo"


def test_save_without_metadata(tmp_path: Path, configure_nodes: Callable[[NodeSettings], None]) -> None:
    configure_nodes(NodeSettings(Folders.from_base(tmp_path), disable_metadata=True))
    SaveImage().save_images(ramp(1, 2, 2), "plain", prompt={"1": {}}, extra_pnginfo={"workflow": {}})
    text, _ = read_png(tmp_path / "output" / "plain_00001_.png")
    assert text == {}


def encode_png(image: torch.Tensor, level: int, info: PngInfo | None) -> bytes:
    buffer = io.BytesIO()
    pixels = np.clip(255.0 * image.numpy(), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info, compress_level=level)
    return buffer.getvalue()


def test_save_uses_compression_level_4(folders: Folders) -> None:
    image = ramp(1, 16, 16)
    SaveImage().save_images(image, "level", prompt={"a": 1})
    info = PngInfo()
    info.add_text("prompt", json.dumps({"a": 1}))
    assert (folders.output / "level_00001_.png").read_bytes() == encode_png(image[0], 4, info)


def test_save_declaration(folders: Folders) -> None:
    declared = SaveImage.INPUT_TYPES()
    assert list(declared["required"]) == ["images", "filename_prefix"]
    filename_prefix = declared["required"]["filename_prefix"]
    assert isinstance(filename_prefix, tuple)
    assert filename_prefix[0] == "STRING"
    assert isinstance(filename_prefix[1], dict) and filename_prefix[1]["default"] == "ComfyUI"
    assert declared["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert SaveImage.OUTPUT_NODE is True and SaveImage.RETURN_TYPES == ()


def test_save_one_channel_image_as_greyscale(folders: Folders) -> None:
    SaveImage().save_images(ramp(1, 3, 3, 1), "grey")
    with Image.open(folders.output / "grey_00001_.png") as im:
        assert im.mode == "L"


# --- PreviewImage ---


def test_preview_writes_to_temp_with_a_stable_random_prefix(folders: Folders) -> None:
    node = PreviewImage()
    first = node.save_images(ramp(1, 2, 2))["ui"]["images"]
    second = node.save_images(ramp(2, 2, 2))["ui"]["images"]
    match = re.fullmatch(r"ComfyUI_temp_([a-z]{5})_00001_\.png", first[0]["filename"])
    assert match is not None
    letters = match.group(1)
    assert [i["filename"] for i in second] == [f"ComfyUI_temp_{letters}_0000{n}_.png" for n in (2, 3)]
    assert all(i["type"] == "temp" and i["subfolder"] == "" for i in first + second)
    assert (folders.temp / first[0]["filename"]).is_file()
    assert not any(folders.output.iterdir())


def test_preview_letters_are_drawn_per_instance(folders: Folders) -> None:
    a = PreviewImage(random.Random(1)).prefix_append
    b = PreviewImage(random.Random(2)).prefix_append
    assert a != b
    assert PreviewImage(random.Random(1)).prefix_append == a


def test_preview_uses_compression_level_1_and_keeps_metadata(folders: Folders) -> None:
    image = ramp(1, 16, 16)
    node = PreviewImage(random.Random(0))
    (ref,) = node.save_images(image, prompt={"a": 1})["ui"]["images"]
    info = PngInfo()
    info.add_text("prompt", json.dumps({"a": 1}))
    assert (folders.temp / ref["filename"]).read_bytes() == encode_png(image[0], 1, info)


def test_preview_declaration() -> None:
    assert PreviewImage.INPUT_TYPES() == {
        "required": {"images": ("IMAGE",)},
        "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
    }
    assert PreviewImage.DESCRIPTION == SaveImage.DESCRIPTION
    assert PreviewImage.OUTPUT_NODE is True


def test_save_then_load_round_trips(folders: Folders) -> None:
    images = ramp(1, 5, 7, 4)
    (ref,) = SaveImage().save_images(images, "rt")["ui"]["images"]
    loaded, mask = LoadImage().load_image(f"{ref['filename']} [output]")
    assert_close(loaded, images[..., :3], rtol=0, atol=0)
    assert_close(mask, 1.0 - images[..., 3], rtol=0, atol=0)
