"""Write an SD1.x-shaped checkpoint of random weights, to check an installation without a real model.

    python -m impasto.models.random_checkpoint models/checkpoints/random_tiny.safetensors [--size tiny|sd15]

The file loads and runs like a real checkpoint (LDM keys, the shapes of SD1.x: `sd15` is full size, about
2.1 GB in float16; `tiny` is a scaled-down model of a few MB), but its images are NOISE: it has learnt nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from impasto.models import detect
from impasto.models.clip import CLIPTextConfig, CLIPTextModel
from impasto.models.unet import UNetConfig, UNetModel
from impasto.models.vae import AutoencoderKL, VAEConfig

SIZES: dict[str, tuple[UNetConfig, VAEConfig, CLIPTextConfig]] = {
    "sd15": (
        UNetConfig(4, 4, 320, (1, 2, 4, 4), (2, 2, 2, 2), (1, 1, 1, 0), 1, 768),
        VAEConfig(3, 3, 128, (1, 2, 4, 4), 2, 4, 4),
        CLIPTextConfig(vocab_size=49408, width=768, layers=12, intermediate=3072),
    ),
    "tiny": (
        UNetConfig(4, 4, 32, (1, 2, 2), (1, 1, 1), (1, 1, 0), 1, 64),
        VAEConfig(3, 3, 32, (1, 1, 2, 2), 1, 4, 4),
        CLIPTextConfig(vocab_size=49408, width=64, layers=2, intermediate=256),
    ),
}


def random_state_dict(size: str = "tiny", seed: int = 0, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """Every tensor of the three models under its LDM key: normal noise scaled by fan-in, norms at 1."""
    unet, vae, clip = SIZES[size]
    generator = torch.Generator().manual_seed(seed)
    parts: tuple[tuple[str, Callable[[], nn.Module]], ...] = (
        (detect.UNET_PREFIX, lambda: UNetModel(unet)),
        (detect.VAE_PREFIX, lambda: AutoencoderKL(vae)),
        (detect.CLIP_PREFIX, lambda: CLIPTextModel(clip)),
    )
    state: dict[str, torch.Tensor] = {}
    for prefix, factory in parts:
        with torch.device("meta"):
            model = factory()
        for key, value in model.state_dict().items():
            if value.dim() >= 2:
                fan_in = max(1, value[0].numel())
                tensor = torch.randn(value.shape, generator=generator) / fan_in**0.5
            else:
                tensor = torch.ones(value.shape) if key.endswith("weight") else torch.zeros(value.shape)
            state[prefix + key] = tensor.to(dtype)
    state[f"{detect.CLIP_PREFIX}text_model.embeddings.position_ids"] = torch.arange(clip.max_positions)[None]
    return state


def write_random_checkpoint(path: Path, size: str = "tiny", seed: int = 0) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"impasto": "random weights for smoke tests; images are noise"}
    save_file(random_state_dict(size, seed), str(path), metadata=metadata)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="where to write the .safetensors file")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.path.suffix != ".safetensors":
        parser.error("the file name must end in .safetensors")
    written = write_random_checkpoint(args.path, args.size, args.seed)
    print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB): random SD1.x-shaped weights, images are noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
