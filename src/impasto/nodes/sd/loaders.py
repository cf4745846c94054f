"""CheckpointLoaderSimple: an SD1.x single-file checkpoint -> MODEL, CLIP, VAE, kept in the worker for reuse.

Models compute on CUDA when torch sees a device (a worker started with --cpu sees none) in float16, else on
the CPU in float32. A checkpoint stays loaded while its file is unchanged; loading another replaces it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from impasto import paths
from impasto.engine.context import check_interrupt
from impasto.nodes._lazy import lazy_module
from impasto.nodes.sd.objects import SDClip, SDModel, SDVae
from impasto.nodes.settings import current

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

log = logging.getLogger(__name__)

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]


@dataclass(frozen=True, slots=True)
class _Loaded:
    key: tuple[str, int, int, str]  # (path, mtime_ns, size, device)
    model: SDModel
    clip: SDClip
    vae: SDVae


_lock = threading.Lock()
_cache: list[_Loaded] = []  # at most one checkpoint is held


def compute_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def compute_dtype(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.float32


def free_models() -> None:
    """Drop every loaded checkpoint (what /free with unload_models asks for)."""
    with _lock:
        _cache.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_checkpoint_file(path: Path) -> tuple[SDModel, SDClip, SDVae]:
    from impasto.models.checkpoint import load_sd1
    from impasto.samplers.discrete import DiscreteSchedule

    device = compute_device()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(device))
    with _lock:
        for loaded in _cache:
            if loaded.key == key:
                return loaded.model, loaded.clip, loaded.vae
        _cache.clear()  # release the previous checkpoint before reading the next
        check_interrupt()
        dtype = compute_dtype(device)
        models = load_sd1(path, dtype=dtype, device=device)
        loaded = _Loaded(
            key,
            SDModel(models.unet, DiscreteSchedule(), device, dtype),
            SDClip(models.clip, device),
            SDVae(models.vae, device),
        )
        _cache.append(loaded)
        log.info("loaded checkpoint %s on %s (%s)", path, device, dtype)
        return loaded.model, loaded.clip, loaded.vae


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
        path = paths.full_path(current().folders, "checkpoints", ckpt_name)
        if path is None:
            raise FileNotFoundError(f"checkpoint not found in the checkpoints folders: {ckpt_name}")
        return load_checkpoint_file(path)
