"""Loading a full-size SD1.5-shaped checkpoint (random weights, float16, about 2.1 GB) with impasto's loader.

.venv/bin/python -m bench.sd_load_bench [DIRECTORY]

The checkpoint is generated once into DIRECTORY (default: the system temp folder, `impasto-bench/`) by
`impasto.models.random_checkpoint` (size sd15) and reused; it is never committed. Its keys and shapes are
SD1.5's (UNet 859.5M, VAE 83.7M, CLIP ViT-L/14 text tower 123.1M parameters). Prints the median of 3
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
from impasto.models.random_checkpoint import write_random_checkpoint


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path(tempfile.gettempdir()) / "impasto-bench"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sd15_random_fp16.safetensors"
    if not path.exists():
        started = time.perf_counter()
        write_random_checkpoint(path, size="sd15")
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
