"""ComfyUI compatibility on the worker side: the custom-node loader (and, later, the modules packs import)."""
