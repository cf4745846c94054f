"""Makes ComfyUI's module names (`server`, ...) importable by node code, as impasto's own modules.

`install()` puts a finder first on `sys.meta_path` in a process that loads node packs (a worker or the node
host). Nothing is installed anywhere else, so a real ComfyUI elsewhere in the environment is never shadowed
for other programs. A name resolves to the one module object of `impasto.compat.shims`, so `server` and
`impasto.compat.shims.server` share their state (one `PromptServer.instance`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

SHIMS = {"server": "impasto.compat.shims.server"}


class _ShimLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: types.ModuleType) -> None:
        pass  # already executed under its own name


class _ShimFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        shim = SHIMS.get(fullname)
        return None if shim is None else importlib.machinery.ModuleSpec(fullname, _ShimLoader(shim))


def install() -> None:
    if not any(isinstance(finder, _ShimFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ShimFinder())
