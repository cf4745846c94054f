"""The GPUs a worker may use, found without importing torch (the server stays torch-free).

NVIDIA devices appear as `/dev/nvidia<N>`; `CUDA_VISIBLE_DEVICES`, when set, narrows them as CUDA does
(ids or `GPU-...` UUIDs, in its order; empty or `-1` means none). One worker per visible GPU is the default,
and each worker sees only its own (its `CUDA_VISIBLE_DEVICES` is set before it imports torch).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path


def visible_gpus(dev: Path = Path("/dev"), environ: Mapping[str, str] = os.environ) -> list[str]:
    """The device ids to hand out, one per worker."""
    try:
        present = sorted(int(m.group(1)) for p in dev.iterdir() if (m := re.fullmatch(r"nvidia(\d+)", p.name)))
    except OSError:
        present = []
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [str(i) for i in present]
    entries = [e.strip() for e in visible.split(",")]
    chosen: list[str] = []
    for entry in entries:
        if not entry or entry == "-1":
            break  # CUDA stops at the first invalid entry
        chosen.append(entry)
    return chosen if present else []
