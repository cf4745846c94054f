"""Loading a full-size SD1.5-shaped checkpoint (random weights, float16, about 2.1 GB) with impasto's loader.

.venv/bin/python -m bench.sd_load_bench [DIRECTORY]

The checkpoint is generated once into DIRECTORY (default: the system temp folder, `impasto-bench/`) and reused;
it is never committed. Its keys are the LDM layout of SD1.5 (UNet 320 channels x (1, 2, 4, 4), 2 residual
blocks per level, context 768; KL VAE 128 x (1, 2, 4, 4); CLIP ViT-L/14 text tower). Prints the median of 3
loads in float16 (as stored) and in float32 (converted while loading). The page cache is warm after the first
read; the first load's time is printed too.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from impasto.models.checkpoint import load_sd1
from impasto.models.clip import CLIPTextConfig, CLIPTextModel
from impasto.models.unet import UNetConfig, UNetModel
from impasto.models.vae import AutoencoderKL, VAEConfig

SD15_UNET = UNetConfig(
    in_channels=4,
    out_channels=4,
    model_channels=320,
    channel_mult=(1, 2, 4, 4),
    num_res_blocks=(2, 2, 2, 2),
    transformer_depth=(1, 1, 1, 0),
    transformer_depth_middle=1,
    context_dim=768,
)
SD15_VAE = VAEConfig(
    in_channels=3, out_channels=3, ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2, z_channels=4, embed_dim=4
)
SD15_CLIP = CLIPTextConfig(vocab_size=49408, width=768, layers=12, intermediate=3072)


def write_random_checkpoint(path: Path) -> None:
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for prefix, factory in (
        ("model.diffusion_model.", lambda: UNetModel(SD15_UNET)),
        ("first_stage_model.", lambda: AutoencoderKL(SD15_VAE)),
        ("cond_stage_model.transformer.", lambda: CLIPTextModel(SD15_CLIP)),
    ):
        with torch.device("meta"):
            model = factory()
        for key, value in model.state_dict().items():
            state[prefix + key] = (torch.randn(value.shape, generator=generator) * 0.02).half()
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    save_file(state, str(path))


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path(tempfile.gettempdir()) / "impasto-bench"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sd15_random_fp16.safetensors"
    if not path.exists():
        started = time.perf_counter()
        write_random_checkpoint(path)
        print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - started:.1f} s")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| load | first s | median of 3 s |")
    print("|---|---:|---:|")
    for dtype in (torch.float16, torch.float32):
        times = []
        for _ in range(4):
            started = time.perf_counter()
            models = load_sd1(path, dtype=dtype)
            times.append(time.perf_counter() - started)
            del models
        name = str(dtype).removeprefix("torch.")
        print(f"| SD1.5-shaped checkpoint as {name} | {times[0]:.2f} | {statistics.median(times[1:]):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
