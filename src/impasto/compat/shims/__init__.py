"""ComfyUI's module names as custom-node code imports them (`import server`, ...), written for impasto.

They are importable under those names only in processes that load node packs (`impasto.compat.hook`).
"""
