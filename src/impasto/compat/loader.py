"""Loading V1 custom-node packs from the custom_nodes folders (node-api.md §3).

Every directory (a package, through its `__init__.py`) or `.py` file in each folder is a pack, loaded in
sorted name order as module `custom_nodes.<name>`. A pack that fails to import is logged with its traceback
and skipped; the others load. A class name already registered keeps its first owner (core nodes first).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from impasto.compat import hook
from impasto.engine.registry import NodeRegistry

log = logging.getLogger(__name__)

NAMESPACE = "custom_nodes"


@dataclass(frozen=True, slots=True)
class PackResult:
    name: str
    path: Path
    seconds: float
    nodes: tuple[str, ...]
    error: str | None = None


def pack_candidates(folders: Iterable[Path]) -> list[tuple[str, Path]]:
    """(name, path) of every pack in the folders, sorted by name; the first folder wins a name."""
    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if name.startswith((".", "__")) or name.endswith(".disabled"):
                continue
            if entry.is_dir() and (entry / "__init__.py").is_file():
                found.setdefault(name, entry)
            elif entry.is_file() and entry.suffix == ".py":
                found.setdefault(entry.stem, entry)
    return sorted(found.items())


def load_custom_nodes(
    folders: Iterable[Path],
    registry: NodeRegistry,
    *,
    disable_all: bool = False,
    whitelist: Iterable[str] = (),
) -> list[PackResult]:
    allowed = set(whitelist)
    hook.install()  # `import server` and the other ComfyUI module names, for the packs
    _ensure_namespace()
    results = []
    for name, path in pack_candidates(folders):
        if disable_all and name not in allowed:
            continue
        results.append(_load(name, path, registry))
    for result in results:
        status = "IMPORT FAILED" if result.error else f"{len(result.nodes)} nodes"
        log.info("custom nodes %-30s %6.3f s  %s", result.name, result.seconds, status)
    return results


def _ensure_namespace() -> None:
    if NAMESPACE not in sys.modules:
        namespace = types.ModuleType(NAMESPACE)
        namespace.__path__ = []
        sys.modules[NAMESPACE] = namespace


def _load(name: str, path: Path, registry: NodeRegistry) -> PackResult:
    started = time.perf_counter()
    module_name = f"{NAMESPACE}.{name}"
    try:
        if path.is_dir():
            spec = importlib.util.spec_from_file_location(
                module_name, path / "__init__.py", submodule_search_locations=[str(path)]
            )
        else:
            spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        log.exception("custom nodes %s failed to import and are skipped", name)
        return PackResult(name, path, time.perf_counter() - started, (), f"{type(exc).__name__}: {exc}")
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if not isinstance(mappings, dict):
        log.warning("custom nodes %s export no NODE_CLASS_MAPPINGS; skipped", name)
        return PackResult(name, path, time.perf_counter() - started, ())
    for cls in mappings.values():
        if isinstance(cls, type):
            cls.RELATIVE_PYTHON_MODULE = module_name  # type: ignore[attr-defined]  # as ComfyUI's loader does
    display = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None)
    added = registry.register_mappings(mappings, display if isinstance(display, dict) else None, source=name)
    _publish(mappings, display if isinstance(display, dict) else {}, added)
    return PackResult(name, path, time.perf_counter() - started, tuple(added))


def _publish(mappings: dict[str, type], display: dict[str, str], added: list[str]) -> None:
    """Make a pack's registered classes visible to other packs through `nodes.NODE_CLASS_MAPPINGS`."""
    from impasto.compat.shims import nodes

    for class_type in added:
        nodes.NODE_CLASS_MAPPINGS[class_type] = mappings[class_type]
        if class_type in display:
            nodes.NODE_DISPLAY_NAME_MAPPINGS[class_type] = display[class_type]
