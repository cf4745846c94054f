"""Image file nodes: LoadImage from the input folder, SaveImage to the output folder, PreviewImage to temp.

Folders and the metadata switch are read from `impasto.nodes.settings.current()` at call time.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from PIL import Image, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module
from impasto.nodes.settings import current
from impasto.paths import (
    Folders,
    FolderType,
    PathEscapeError,
    annotated_path,
    input_images,
    listed_counter,
    note_saved,
    save_path,
)

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

_FOLDER_TYPES: Mapping[str, FolderType] = {"input": "input", "output": "output", "temp": "temp"}
_HIDDEN = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
_NO_ALPHA_MASK_SIZE = 64  # ComfyUI's placeholder mask for a frame without transparency


class ImageRef(TypedDict):
    filename: str
    subfolder: str
    type: str


class ImagesUi(TypedDict):
    images: list[ImageRef]


class SaveResult(TypedDict):
    ui: ImagesUi


class LoadImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"
    CATEGORY = "image"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"image": (input_images(current().folders), {"image_upload": True})}}

    def load_image(self, image: str) -> tuple[torch.Tensor, torch.Tensor]:
        path = annotated_path(current().folders, image)
        with Image.open(path) as img:
            return load_frames(img)

    @classmethod
    def IS_CHANGED(cls, image: str) -> str:
        digest = hashlib.sha256()
        with annotated_path(current().folders, image).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    @classmethod
    def VALIDATE_INPUTS(cls, image: str | None) -> bool | str:
        if image is None:  # a linked name is only known at execution
            return True
        try:
            exists = annotated_path(current().folders, image).is_file()
        except PathEscapeError:
            exists = False
        return True if exists else f"Invalid image file: {image}"


def load_frames(img: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE `[N, H, W, 3]` and MASK `[N, h, w]` from every frame of the first frame's size.

    EXIF orientation is applied per frame. MASK is 1 - alpha (from an alpha band or palette transparency), or
    a 64x64 zero mask for a frame with neither. An MPO file gives its first frame only.
    """
    images: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    size: tuple[int, int] | None = None
    for raw in ImageSequence.Iterator(img):
        check_interrupt()  # between the frames of a file
        frame = ImageOps.exif_transpose(raw)
        if frame.mode == "I":
            # As ComfyUI: a 32-bit integer frame is divided by 255 before the RGB conversion clips it.
            frame = frame.point(lambda v: v * (1 / 255))
        rgb = frame.convert("RGB")
        if size is None:
            size = rgb.size
        elif rgb.size != size:
            continue
        images.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0))
        masks.append(_mask(frame))
        if img.format == "MPO":  # the other frames of an MPO are alternative views, not an animation
            break
    if not images:
        raise ValueError("the image file holds no frames")
    return torch.stack(images), torch.stack(_same_size_masks(masks, images[0].shape[:2]))


def _mask(frame: Image.Image) -> torch.Tensor:
    if "A" in frame.getbands():
        alpha = frame.getchannel("A")
    elif frame.mode == "P" and "transparency" in frame.info:
        alpha = frame.convert("RGBA").getchannel("A")
    else:
        return torch.zeros((_NO_ALPHA_MASK_SIZE, _NO_ALPHA_MASK_SIZE), dtype=torch.float32)
    return 1.0 - torch.from_numpy(np.asarray(alpha, dtype=np.float32) / 255.0)


def _same_size_masks(masks: list[torch.Tensor], frame_size: torch.Size) -> list[torch.Tensor]:
    # An animation whose first frame has no transparency but later ones do (common in GIFs) mixes 64x64
    # placeholders with full-size masks; ComfyUI fails there, impasto widens the placeholders to frame size.
    if len({m.shape for m in masks}) <= 1:
        return masks
    return [m if m.shape == frame_size else torch.zeros(frame_size, dtype=torch.float32) for m in masks]


class SaveImage:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    CATEGORY = "image"
    DESCRIPTION = "Saves the input images as PNG files in the output folder."

    # ComfyUI's attribute names, which subclasses in custom packs set (`output_dir` pins a folder).
    type = "output"
    compress_level = 4
    prefix_append = ""
    output_dir: str | None = None

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "Images to write as PNG files."}),
                "filename_prefix": (
                    "STRING",
                    {
                        "default": "ComfyUI",
                        "tooltip": "File name prefix. May contain a subfolder and tokens such as %width%, "
                        "%height%, %year%, %month%, %day% or %batch_num%.",
                    },
                ),
            },
            "hidden": dict(_HIDDEN),
        }

    def save_images(
        self,
        images: torch.Tensor,
        filename_prefix: str = "ComfyUI",
        prompt: Mapping[str, object] | None = None,
        extra_pnginfo: Mapping[str, object] | None = None,
    ) -> SaveResult:
        if images.shape[0] == 0:
            return {"ui": {"images": []}}
        settings = current()
        root = Path(self.output_dir) if self.output_dir else _folder(settings.folders, self.type)
        prefix = filename_prefix + self.prefix_append
        height, width = images.shape[1], images.shape[2]
        try:
            target = save_path(root, prefix, width, height)
        except PathEscapeError as exc:
            raise ValueError(
                f"filename_prefix {filename_prefix!r} would save outside the {self.type} folder; "
                "use a relative prefix without '..'"
            ) from exc
        metadata = None if settings.disable_metadata else _png_info(prompt, extra_pnginfo)
        results: list[ImageRef] = []
        counter = target.counter
        for batch_number, image in enumerate(images):
            check_interrupt()  # between the files of a batch
            name = target.filename.replace("%batch_num%", str(batch_number))
            pixels = _to_pil(image)
            while True:
                file = f"{name}_{counter:05}_.png"
                try:
                    # Created exclusively: a file another process just wrote under this number is never replaced.
                    with open(Path(target.folder, file), "xb") as out:
                        pixels.save(out, format="PNG", pnginfo=metadata, compress_level=self.compress_level)
                    break
                except FileExistsError:
                    counter = max(counter + 1, listed_counter(target.folder, target.filename))
            results.append({"filename": file, "subfolder": target.subfolder, "type": self.type})
            counter += 1
        note_saved(target.folder, target.filename, counter)
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    """SaveImage into the temp folder under a random per-instance prefix, with faster compression."""

    type = "temp"
    compress_level = 1

    def __init__(self, rng: random.Random | None = None) -> None:
        # Drawn once per instance, so reruns of one node on one worker reuse the same names.
        letters = "".join((rng or random.SystemRandom()).choices(string.ascii_lowercase, k=5))
        self.prefix_append = "_temp_" + letters

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"images": ("IMAGE",)}, "hidden": dict(_HIDDEN)}


def _folder(folders: Folders, kind: str) -> Path:
    if kind not in _FOLDER_TYPES:
        raise ValueError(f"unknown folder type {kind!r}; expected one of {sorted(_FOLDER_TYPES)}")
    return folders.folder(_FOLDER_TYPES[kind])


def _png_info(prompt: Mapping[str, object] | None, extra_pnginfo: Mapping[str, object] | None) -> PngInfo:
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in (extra_pnginfo or {}).items():
        info.add_text(key, json.dumps(value))
    return info


def _to_pil(image: torch.Tensor) -> Image.Image:
    scaled = np.multiply(image.cpu().numpy(), 255.0, dtype=np.float32)  # (h, w, c)
    pixels = np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)  # truncated, as ComfyUI does
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]  # a one-channel image saves as greyscale
    return Image.fromarray(pixels)
