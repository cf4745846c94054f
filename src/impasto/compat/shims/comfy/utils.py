"""`comfy.utils`: ProgressBar and the helpers custom nodes call most (node-api.md §4.1, §4.8).

A ProgressBar report goes to the run this node belongs to (`impasto.engine.context`): `progress` and
`progress_state` for its node, a preview frame when one is given. Every report is an interrupt point, checked
here before the hook is called, so a pack that replaces the hook (`set_progress_bar_global_hook`) loses
progress reporting but never interrupt checks.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from impasto.compat.runtime import encode_preview
from impasto.engine.context import active_run, check_interrupt, current_node
from impasto.nodes.image import common_upscale

log = logging.getLogger(__name__)

ProgressHook = Callable[..., None]

MAX_RESOLUTION = 16384

__all__ = [
    "MAX_RESOLUTION",
    "PROGRESS_BAR_HOOK",
    "ProgressBar",
    "common_upscale",
    "load_torch_file",
    "set_progress_bar_global_hook",
]


def _report_to_run(
    value: float, total: float, preview: Any = None, prompt_id: str | None = None, node_id: str | None = None
) -> None:
    """impasto's hook: the report becomes the node's progress in the run executing in this process."""
    run = active_run()
    if run is None or node_id is None:
        return
    encoded = None
    if preview is not None:
        image_format, image, max_size = preview
        encoded = encode_preview(image, image_format, max_size)
    run.report_progress(node_id, value, total, encoded)


PROGRESS_BAR_HOOK: ProgressHook | None = _report_to_run


def set_progress_bar_global_hook(function: ProgressHook | None) -> None:
    """Replace the hook every ProgressBar created from now on calls (ComfyUI's name)."""
    global PROGRESS_BAR_HOOK
    PROGRESS_BAR_HOOK = function


class ProgressBar:
    """Progress of one node: `update(n)` adds, `update_absolute(v)` sets; both report and check for interrupts."""

    def __init__(self, total: float, node_id: str | None = None) -> None:
        context = current_node()
        self.total = total
        self.current: float = 0
        self.node_id = node_id if node_id is not None else (context.node_id if context is not None else None)
        self.hook = PROGRESS_BAR_HOOK

    def update_absolute(self, value: float, total: float | None = None, preview: Any = None) -> None:
        if total is not None:
            self.total = total
        if value > self.total:
            value = self.total
        self.current = value
        check_interrupt()
        if self.hook is not None:
            run = active_run()
            self.hook(
                self.current,
                self.total,
                preview,
                prompt_id=run.prompt_id if run is not None else None,
                node_id=self.node_id,
            )

    def update(self, value: float) -> None:
        self.update_absolute(self.current + value)


def load_torch_file(
    ckpt: str | Path, safe_load: bool = False, device: torch.device | str | None = None, return_metadata: bool = False
) -> Any:
    """A state dict from a `.safetensors`/`.sft` file (read here) or a torch pickle (`weights_only` always).

    With `return_metadata`, returns `(state_dict, metadata)`; metadata is the safetensors `__metadata__` or None.
    """
    path = Path(ckpt)
    target = torch.device("cpu") if device is None else torch.device(device)
    metadata: dict[str, str] | None = None
    if path.suffix.lower() in (".safetensors", ".sft"):
        state, metadata = _read_safetensors(path, target)
    else:
        loaded = torch.load(path, map_location=target, weights_only=True)
        state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
    return (state, metadata) if return_metadata else state


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}


def _read_safetensors(path: Path, device: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """The safetensors layout: an 8-byte little-endian header size, a JSON header, then the raw tensor bytes."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path} is not a safetensors file: too short")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise ValueError(f"{path} is not a safetensors file: header size {header_size} exceeds the file")
    header = json.loads(data[8 : 8 + header_size])
    body = memoryview(data)[8 + header_size :]
    metadata = header.pop("__metadata__", None)
    state: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']!r}")
        start, end = info["data_offsets"]
        chunk = body[start:end]
        flat = torch.frombuffer(bytearray(chunk), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        state[name] = flat.reshape(info["shape"]).to(device)
    return state, metadata
