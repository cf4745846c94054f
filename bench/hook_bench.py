"""Cost of the module-call interrupt point: a torch-heavy node with and without the forward pre-hook.

.venv/bin/python bench/hook_bench.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from impasto.engine.cancel import CancelToken
from impasto.workers.child import interrupt_torch_modules


def timed(function: Callable[[], object], repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> int:
    torch.manual_seed(0)
    convs = torch.nn.Sequential(*[torch.nn.Conv2d(64, 64, 3, padding=1) for _ in range(8)])
    image = torch.randn(1, 64, 128, 128)
    small = torch.nn.Linear(16, 16)
    vector = torch.randn(1, 16)

    def conv_node() -> None:
        with torch.no_grad():
            for _ in range(4):
                convs(image)

    def many_small_calls() -> None:
        with torch.no_grad():
            for _ in range(20_000):
                small(vector)

    print("| workload | without hook ms | with hook ms | cost |")
    print("|---|---:|---:|---:|")
    for name, workload in (
        ("8-layer 64-channel conv stack at 128x128, 4 passes (36 module calls)", conv_node),
        ("20,000 calls of a 16x16 Linear", many_small_calls),
    ):
        workload()
        plain_samples, hooked_samples = [], []
        for _ in range(5):  # interleaved, so drift in the machine's speed hits both alike
            plain_samples.append(timed(workload, 5))
            with interrupt_torch_modules(CancelToken()):
                hooked_samples.append(timed(workload, 5))
        plain, hooked = statistics.median(plain_samples), statistics.median(hooked_samples)
        print(f"| {name} | {plain:.1f} | {hooked:.1f} | {100 * (hooked / plain - 1):+.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
