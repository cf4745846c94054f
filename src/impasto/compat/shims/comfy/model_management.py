"""`comfy.model_management`: interrupts and devices as custom nodes ask for them (node-api.md §4.6, §4.8).

ComfyUI keeps one process-global interrupt flag; here every call acts on the cancel token of the job this
process is running (execution.md §9.4): node code can request a cancel of its own job and withdraw only that
request, never a user's cancel, and checking never clears anything.
"""

from __future__ import annotations

import gc
import logging

import torch

from impasto.compat.runtime import current as compat_settings
from impasto.engine.cancel import Interrupted
from impasto.engine.context import active_run, check_interrupt

log = logging.getLogger(__name__)

InterruptProcessingException = Interrupted  # a BaseException: `except Exception` in node code does not catch it

__all__ = [
    "InterruptProcessingException",
    "get_free_memory",
    "get_torch_device",
    "intermediate_device",
    "interrupt_current_processing",
    "is_device_cpu",
    "processing_interrupted",
    "soft_empty_cache",
    "text_encoder_device",
    "throw_exception_if_processing_interrupted",
    "unet_offload_device",
    "unload_all_models",
    "vae_device",
]


def interrupt_current_processing(value: bool = True) -> None:
    """`True`: request a cancel of the job running here. `False`: withdraw only a request node code made."""
    run = active_run()
    if run is None:
        log.info("interrupt_current_processing(%s) outside a job: nothing to interrupt", value)
        return
    if value:
        log.info("prompt %s: node code requested an interrupt", run.prompt_id)
        run.token.request_from_node()
    else:
        run.token.withdraw_node_request()


def processing_interrupted() -> bool:
    """Whether the job running here has a cancel requested (False outside a job)."""
    run = active_run()
    return run is not None and run.token.requested


def throw_exception_if_processing_interrupted() -> None:
    """An interrupt point: raises InterruptProcessingException when a cancel is requested; the request stays."""
    check_interrupt()


def get_torch_device() -> torch.device:
    """The device this worker computes on: its GPU (the only one it sees), or the CPU with `--cpu` or none."""
    if not compat_settings().cpu and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def intermediate_device() -> torch.device:
    """Where node outputs between nodes live: the CPU, as in ComfyUI."""
    return torch.device("cpu")


def unet_offload_device() -> torch.device:
    return torch.device("cpu")


def text_encoder_device() -> torch.device:
    return get_torch_device()


def vae_device() -> torch.device:
    return get_torch_device()


def is_device_cpu(device: torch.device | str | None) -> bool:
    return device is not None and torch.device(device).type == "cpu"


def get_free_memory(dev: torch.device | str | None = None) -> int:
    """Free bytes on a CUDA device (its allocator's cache counts as free), else the machine's available RAM."""
    device = torch.device(dev) if dev is not None else get_torch_device()
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    return _available_ram()


def _available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def soft_empty_cache(force: bool = False) -> None:
    """Give cached GPU memory back to the driver (nothing to do on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def unload_all_models() -> None:
    """impasto's compat layer tracks no pack models: collect garbage and free the GPU cache."""
    gc.collect()
    soft_empty_cache()
