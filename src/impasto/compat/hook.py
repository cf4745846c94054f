"""Makes ComfyUI's module names (`server`, `comfy.utils`, ...) importable by node code, as impasto's own modules.

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

# ComfyUI's module names that packs import; each is the module of the same dotted name under the shims package.
# A submodule not listed (e.g. `comfy.sd`) is not provided and fails to import as usual.
PROVIDED = (
    "server",
    "folder_paths",
    "nodes",
    "comfy",
    "comfy.utils",
    "comfy.model_management",
    "comfy.comfy_types",
    "comfy.comfy_types.node_typing",
    "comfy_execution",
    "comfy_execution.graph",
    "comfy_execution.graph_utils",
    "comfy_api",
    "comfy_api.v0_0_2",
    "comfy_api.latest",
)
SHIMS = {name: f"impasto.compat.shims.{name}" for name in PROVIDED}


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
