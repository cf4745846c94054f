"""CLIPTextEncode, CLIPSetLastLayer, ConditioningCombine and ConditioningSetArea."""

from __future__ import annotations

from impasto.engine.context import check_interrupt
from impasto.nodes.sd.latent import MAX_RESOLUTION
from impasto.nodes.sd.objects import Conditioning, SDClip

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]


class CLIPTextEncode:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "dynamicPrompts": True}),
                "clip": ("CLIP",),
            }
        }

    def encode(self, clip: SDClip, text: str) -> tuple[Conditioning]:
        from impasto.models.conditioning import encode_prompt

        check_interrupt()
        encoded = encode_prompt(clip.model, text, clip.last_layer)
        return ([[encoded.hidden.float().cpu(), {"pooled_output": encoded.pooled.float().cpu()}]],)


class CLIPSetLastLayer:
    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "set_last_layer"
    CATEGORY = "conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {
            "required": {
                "clip": ("CLIP",),
                "stop_at_clip_layer": ("INT", {"default": -1, "min": -24, "max": -1, "step": 1}),
            }
        }

    def set_last_layer(self, clip: SDClip, stop_at_clip_layer: int) -> tuple[SDClip]:
        layers = clip.model.config.layers
        if stop_at_clip_layer < -layers:
            raise ValueError(f"stop_at_clip_layer {stop_at_clip_layer}: this text encoder has {layers} layers")
        return (clip.with_last_layer(stop_at_clip_layer),)


class ConditioningCombine:
    """Both conditionings' entries in one list: KSampler averages their estimates (by `strength`, default 1)."""

    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "combine"
    CATEGORY = "conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        return {"required": {"conditioning_1": ("CONDITIONING",), "conditioning_2": ("CONDITIONING",)}}

    def combine(self, conditioning_1: Conditioning, conditioning_2: Conditioning) -> tuple[Conditioning]:
        return (conditioning_1 + conditioning_2,)


class ConditioningSetArea:
    """Restricts each entry to a rectangle (pixels, in steps of 8) with a strength; see nodes.sd.guidance."""

    RELATIVE_PYTHON_MODULE = "nodes"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    CATEGORY = "conditioning"

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        side = {"default": 64, "min": 64, "max": MAX_RESOLUTION, "step": 8}
        offset = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {
            "required": {
                "conditioning": ("CONDITIONING",),
                "width": ("INT", side),
                "height": ("INT", side),
                "x": ("INT", offset),
                "y": ("INT", offset),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01}),
            }
        }

    def append(
        self, conditioning: Conditioning, width: int, height: int, x: int, y: int, strength: float
    ) -> tuple[Conditioning]:
        area = (height // 8, width // 8, y // 8, x // 8)  # latent pixels: (height, width, y, x)
        out = []
        for tensor, options in conditioning:
            out.append([tensor, {**options, "area": area, "strength": strength, "set_area_to_bounds": False}])
        return (out,)
