"""`lazy_module(name)`: a module that is imported on its first attribute access.

The node host imports every node module to build the catalog (`INPUT_TYPES` and the other class attributes)
and never runs a node, so it has no use for torch, which takes about a second to import. Node modules bind
torch through this:

    if TYPE_CHECKING:
        import torch
    else:
        torch = lazy_module("torch")

Type checkers see the real module; at run time the first `torch.<name>` in node code imports it. Workers
import torch when they start, so no job pays for the import.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self.__name__)
        # From now on every attribute is a plain lookup in this object's own namespace.
        self.__dict__.update(module.__dict__)
        return getattr(module, attribute)


def lazy_module(name: str) -> types.ModuleType:
    return _LazyModule(name)
