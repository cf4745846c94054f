"""The HTTP and WebSocket server: ComfyUI's API on aiohttp. Torch-free: it never imports node code."""
