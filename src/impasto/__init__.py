"""impasto: a ComfyUI-compatible workflow server with a persistent queue and an interrupt that always works."""

__version__ = "0.1.0"
