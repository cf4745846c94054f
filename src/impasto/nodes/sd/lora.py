"""LoraLoader and LoraLoaderModelOnly: a LoRA from the loras folders applied to MODEL (and CLIP).

The result is a new MODEL/CLIP that shares every unpatched weight with its input, so the loaded checkpoint
other jobs reuse stays as it was. A LoRA none of whose layers exist in the model is an error that says so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from impasto import paths
from impasto.engine.context import check_interrupt
from impasto.nodes.sd.objects import SDClip, SDModel
from impasto.nodes.settings import current

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]
STRENGTH = {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}


def _read(lora_name: str) -> dict[str, dict[str, torch.Tensor]]:
    from impasto.models.checkpoint import read_state_dict
    from impasto.models.lora import group_lora

    path = paths.full_path(current().folders, "loras", lora_name)
    if path is None:
        raise FileNotFoundError(f"{lora_name} not found in the loras folders")
    groups = group_lora(read_state_dict(path))
    if not groups:
        raise ValueError(f"{lora_name} holds no LoRA weights (no lora_down/lora_up or lora_A/lora_B tensors)")
    return groups


def apply(
    groups: dict[str, dict[str, torch.Tensor]],
    lora_name: str,
    model: SDModel | None,
    strength_model: float,
    clip: SDClip | None,
    strength_clip: float,
) -> tuple[SDModel | None, SDClip | None]:
    from impasto.models.errors import UnsupportedModelError
    from impasto.models.lora import apply_lora, lora_targets

    used: set[str] = set()
    new_model, new_clip = model, clip
    if model is not None and strength_model != 0:
        unet, names = apply_lora(model.unet, groups, strength_model, lora_targets(model.unet, model.unet.config))
        new_model, used = replace(model, unet=unet), used | names
    check_interrupt()
    if clip is not None and strength_clip != 0:
        encoder, names = apply_lora(clip.model, groups, strength_clip, lora_targets(clip.model, None))
        new_clip, used = replace(clip, model=encoder), used | names
    if not used:
        sample = ", ".join(sorted(groups)[:3])
        found = f"none of its {len(groups)} layers is a layer of this SD1.x model, e.g. {sample}"
        raise UnsupportedModelError("a LoRA for another architecture", found)
    skipped = len(groups) - len(used)
    if skipped:
        log.warning("LoRA %s: %d of %d layers match nothing in this model", lora_name, skipped, len(groups))
    return new_model, new_clip


class LoraLoader:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "load_lora"
    CATEGORY = "loaders"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "model": ("MODEL",),
                "clip": ("CLIP",),
                "lora_name": (paths.filename_list(current().folders, "loras"),),
                "strength_model": ("FLOAT", STRENGTH),
                "strength_clip": ("FLOAT", STRENGTH),
            }
        }

    def load_lora(
        self, model: SDModel, clip: SDClip, lora_name: str, strength_model: float, strength_clip: float
    ) -> tuple[Any, Any]:
        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        return apply(_read(lora_name), lora_name, model, strength_model, clip, strength_clip)


class LoraLoaderModelOnly:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_lora_model_only"
    CATEGORY = "loaders"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "model": ("MODEL",),
                "lora_name": (paths.filename_list(current().folders, "loras"),),
                "strength_model": ("FLOAT", STRENGTH),
            }
        }

    def load_lora_model_only(self, model: SDModel, lora_name: str, strength_model: float) -> tuple[Any]:
        if strength_model == 0:
            return (model,)
        return (apply(_read(lora_name), lora_name, model, strength_model, None, 0.0)[0],)
