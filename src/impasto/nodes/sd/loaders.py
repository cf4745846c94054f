"""Loaders: CheckpointLoaderSimple (an SD1.x single-file checkpoint -> MODEL, CLIP, VAE), and VAELoader,
CLIPLoader and UNETLoader for the parts on their own; what they load is kept in the worker for reuse.

Models compute on CUDA when torch sees a device (a worker started with --cpu sees none) in float16, else on
the CPU in float32. A file stays loaded while it is unchanged; the three most recently used files are held.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from impasto import paths
from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module
from impasto.nodes.sd.objects import SDClip, SDModel, SDVae
from impasto.nodes.sd.previews import LatentPreviewer
from impasto.nodes.settings import current

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

log = logging.getLogger(__name__)

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]
T = TypeVar("T")

_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str, int, int, str], Any] = OrderedDict()  # (kind, path, mtime_ns, size, device)
_HELD = 3  # loaded files kept at once, least recently used dropped first


def compute_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def compute_dtype(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.float32


def free_models() -> None:
    """Drop every loaded model file (what /free with unload_models asks for)."""
    with _lock:
        _cache.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cached(kind: str, path: Path, build: Callable[[torch.device, torch.dtype], T]) -> T:
    """The models of `path` as `build` makes them, reused while the file is unchanged."""
    device = compute_device()
    stat = path.stat()
    key = (kind, str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(device))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return cast(T, _cache[key])
        while len(_cache) >= _HELD:
            _cache.popitem(last=False)  # release before reading the next file
        check_interrupt()
        built = build(device, compute_dtype(device))
        _cache[key] = built
        log.info("loaded %s %s on %s", kind, path, device)
        return built


def load_checkpoint_file(path: Path) -> tuple[SDModel, SDClip, SDVae]:
    def build(device: torch.device, dtype: torch.dtype) -> tuple[SDModel, SDClip, SDVae]:
        from impasto.models.checkpoint import load_sd1
        from impasto.samplers.discrete import DiscreteSchedule

        models = load_sd1(path, dtype=dtype, device=device)
        return (
            SDModel(models.unet, DiscreteSchedule(), device, dtype, previewer=LatentPreviewer(models.vae)),
            SDClip(models.clip, device),
            SDVae(models.vae, device),
        )

    return _cached("checkpoint", path, build)


def _resolve(folder: str, name: str) -> Path:
    path = paths.full_path(current().folders, folder, name)
    if path is None:
        raise FileNotFoundError(f"{name} not found in the {folder} folders")
    return path


class CheckpointLoaderSimple:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    CATEGORY = "loaders"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        names = paths.filename_list(current().folders, "checkpoints")
        return {"required": {"ckpt_name": (names,)}}

    def load_checkpoint(self, ckpt_name: str) -> tuple[SDModel, SDClip, SDVae]:
        return load_checkpoint_file(_resolve("checkpoints", ckpt_name))


class VAELoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"
    CATEGORY = "loaders"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"vae_name": (paths.filename_list(current().folders, "vae"),)}}

    def load_vae(self, vae_name: str) -> tuple[SDVae]:
        def build(device: torch.device, dtype: torch.dtype) -> SDVae:
            from impasto.models.checkpoint import load_vae_file

            # The autoencoder decodes in float32 on the CPU and in the compute dtype on CUDA.
            return SDVae(load_vae_file(path, dtype=dtype, device=device), device)

        path = _resolve("vae", vae_name)
        return (_cached("vae", path, build),)


class CLIPLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    CATEGORY = "advanced/loaders"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "clip_name": (paths.filename_list(current().folders, "text_encoders"),),
                "type": (["stable_diffusion"],),  # SD1.x's CLIP ViT-L/14: the one family impasto runs
            },
            "optional": {"device": (["default", "cpu"], {"advanced": True})},
        }

    def load_clip(self, clip_name: str, type: str = "stable_diffusion", device: str = "default") -> tuple[SDClip]:
        def build(compute: torch.device, dtype: torch.dtype) -> SDClip:
            from impasto.models.checkpoint import load_clip_file

            target = torch.device("cpu") if device == "cpu" else compute
            return SDClip(
                load_clip_file(path, dtype=dtype if target == compute else torch.float32, device=target), target
            )

        if type != "stable_diffusion":
            raise ValueError(f"CLIP type {type!r} is not supported; impasto runs stable_diffusion (SD1.x)")
        path = _resolve("text_encoders", clip_name)
        return (_cached(f"clip-{device}", path, build),)


class UNETLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_unet"
    CATEGORY = "advanced/loaders"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "unet_name": (paths.filename_list(current().folders, "diffusion_models"),),
                "weight_dtype": (["default"],),
            }
        }

    def load_unet(self, unet_name: str, weight_dtype: str = "default") -> tuple[SDModel]:
        def build(device: torch.device, dtype: torch.dtype) -> SDModel:
            from impasto.models.checkpoint import load_unet_file
            from impasto.samplers.discrete import DiscreteSchedule

            return SDModel(load_unet_file(path, dtype=dtype, device=device), DiscreteSchedule(), device, dtype)

        if weight_dtype != "default":
            raise ValueError(f"weight_dtype {weight_dtype!r} is not supported; impasto offers 'default'")
        path = _resolve("diffusion_models", unet_name)
        return (_cached("unet", path, build),)
