"""impasto's Stable Diffusion 1.x nodes, with ComfyUI's class names, inputs, defaults and outputs.

Importing this package imports neither torch nor the models: the node host builds the catalog from it
without them, and workers import torch when a node first runs.
"""

from __future__ import annotations

from impasto.nodes.sd.conditioning import CLIPSetLastLayer, CLIPTextEncode, ConditioningCombine, ConditioningSetArea
from impasto.nodes.sd.ksampler import KSampler, KSamplerAdvanced
from impasto.nodes.sd.latent import EmptyLatentImage, VAEDecode, VAEEncode
from impasto.nodes.sd.latent_ops import LatentUpscale, LatentUpscaleBy, SetLatentNoiseMask
from impasto.nodes.sd.loaders import CheckpointLoaderSimple, CLIPLoader, UNETLoader, VAELoader
from impasto.nodes.sd.lora import LoraLoader, LoraLoaderModelOnly
from impasto.nodes.sd.tiled import VAEDecodeTiled, VAEEncodeTiled

NODE_CLASS_MAPPINGS: dict[str, type] = {
    "KSampler": KSampler,
    "CheckpointLoaderSimple": CheckpointLoaderSimple,
    "CLIPTextEncode": CLIPTextEncode,
    "CLIPSetLastLayer": CLIPSetLastLayer,
    "VAEDecode": VAEDecode,
    "VAEEncode": VAEEncode,
    "EmptyLatentImage": EmptyLatentImage,
    "KSamplerAdvanced": KSamplerAdvanced,
    "LatentUpscale": LatentUpscale,
    "LatentUpscaleBy": LatentUpscaleBy,
    "SetLatentNoiseMask": SetLatentNoiseMask,
    "ConditioningCombine": ConditioningCombine,
    "ConditioningSetArea": ConditioningSetArea,
    "VAELoader": VAELoader,
    "CLIPLoader": CLIPLoader,
    "UNETLoader": UNETLoader,
    "LoraLoader": LoraLoader,
    "LoraLoaderModelOnly": LoraLoaderModelOnly,
    "VAEDecodeTiled": VAEDecodeTiled,
    "VAEEncodeTiled": VAEEncodeTiled,
}

NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "KSampler": "KSampler",
    "KSamplerAdvanced": "KSampler (Advanced)",
    "CheckpointLoaderSimple": "Load Checkpoint",
    "CLIPTextEncode": "CLIP Text Encode (Prompt)",
    "CLIPSetLastLayer": "CLIP Set Last Layer",
    "VAEDecode": "VAE Decode",
    "VAEEncode": "VAE Encode",
    "EmptyLatentImage": "Empty Latent Image",
    "LatentUpscale": "Upscale Latent",
    "LatentUpscaleBy": "Upscale Latent By",
    "SetLatentNoiseMask": "Set Latent Noise Mask",
    "ConditioningCombine": "Conditioning (Combine)",
    "ConditioningSetArea": "Conditioning (Set Area)",
    "VAELoader": "Load VAE",
    "CLIPLoader": "Load CLIP",
    "UNETLoader": "Load Diffusion Model",
    "LoraLoader": "Load LoRA",
    "VAEDecodeTiled": "VAE Decode (Tiled)",
    "VAEEncodeTiled": "VAE Encode (Tiled)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
