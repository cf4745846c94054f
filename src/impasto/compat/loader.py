"""Loading custom-node packs from the custom_nodes folders (node-api.md §3).

Every directory (a package, through its `__init__.py`) or `.py` file in each folder is a pack, loaded in
sorted name order as module `custom_nodes.<name>`; each pack's `prestartup_script.py` runs before any pack is
imported. A V1 pack exports `NODE_CLASS_MAPPINGS`; a V3 pack exports `comfy_entrypoint`, whose extension lists
`io.ComfyNode` classes (registered through their V1 form). A pack that fails to import is logged with its
traceback and skipped; the others load. A class name already registered keeps its first owner (core nodes
first, then packs in name order) and the later one is skipped with a warning naming both. Start-up ends with
a summary of every pack's import time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import runpy
import sys
import time
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.compat import hook
from impasto.engine.registry import NodeRegistry

log = logging.getLogger(__name__)

NAMESPACE = "custom_nodes"
PRESTARTUP = "prestartup_script.py"


@dataclass(frozen=True, slots=True)
class PackResult:
    name: str
    path: Path
    seconds: float
    nodes: tuple[str, ...]
    error: str | None = None
    web_directory: Path | None = None  # the pack's WEB_DIRECTORY, when it names an existing folder


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
    packs = [(n, p) for n, p in pack_candidates(folders) if not disable_all or n in allowed]
    for name, path in packs:
        _prestartup(name, path)
    owners = {class_type: "core" for class_type in registry.names()}
    results = [_load(name, path, registry, owners) for name, path in packs]
    log_summary(results)
    return results


def log_summary(results: list[PackResult]) -> None:
    """One block at the end of start-up: each pack with its import time, IMPORT FAILED for a failed one."""
    if not results:
        return
    lines = [
        f"{result.seconds:8.3f} s  {'(IMPORT FAILED) ' if result.error else ''}{result.name}"
        f"{'' if result.error else f'  ({len(result.nodes)} nodes)'}"
        for result in sorted(results, key=lambda r: r.seconds)
    ]
    log.info("Import times for custom nodes:\n%s", "\n".join(lines))


def _ensure_namespace() -> None:
    if NAMESPACE not in sys.modules:
        namespace = types.ModuleType(NAMESPACE)
        namespace.__path__ = []
        sys.modules[NAMESPACE] = namespace


def _prestartup(name: str, path: Path) -> None:
    script = path / PRESTARTUP
    if not (path.is_dir() and script.is_file()):
        return
    try:
        runpy.run_path(str(script), run_name=f"{NAMESPACE}.{name}.prestartup_script")
    except Exception:
        log.exception("custom nodes %s: %s failed", name, PRESTARTUP)


def _load(name: str, path: Path, registry: NodeRegistry, owners: dict[str, str]) -> PackResult:
    started = time.perf_counter()
    module_name = f"{NAMESPACE}.{name}"
    try:
        module = _import(module_name, path)
        mappings, display = _mappings(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        log.exception("custom nodes %s failed to import and are skipped", name)
        return PackResult(name, path, time.perf_counter() - started, (), f"{type(exc).__name__}: {exc}")
    if mappings is None:
        log.warning("custom nodes %s export neither NODE_CLASS_MAPPINGS nor comfy_entrypoint; skipped", name)
        return PackResult(name, path, time.perf_counter() - started, ())
    fresh: dict[str, type] = {}
    for class_type, cls in mappings.items():
        owner = owners.get(class_type)
        if owner is not None:
            log.warning(
                "custom nodes %s: node class %r is already defined by %s; the first definition is kept",
                name,
                class_type,
                "a core node" if owner == "core" else f"custom nodes {owner}",
            )
            continue
        fresh[class_type] = cls
        if isinstance(cls, type):
            cls.RELATIVE_PYTHON_MODULE = module_name  # type: ignore[attr-defined]  # as ComfyUI's loader does
    added = registry.register_mappings(fresh, display, source=f"custom nodes {name}")
    for class_type in added:
        owners[class_type] = name
    _publish(fresh, display, added)
    return PackResult(name, path, time.perf_counter() - started, tuple(added), web_directory=_web_dir(module, path))


def _import(module_name: str, path: Path) -> types.ModuleType:
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
    return module


def _mappings(module: types.ModuleType) -> tuple[dict[str, type] | None, dict[str, str]]:
    """The pack's classes by class_type and its display names (V1 exports, or a V3 extension's node list)."""
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    if isinstance(mappings, dict):
        display = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None)
        return mappings, display if isinstance(display, dict) else {}
    entrypoint = getattr(module, "comfy_entrypoint", None)
    if entrypoint is None:
        return None, {}
    from impasto.compat.shims.comfy_api.latest._adapter import v1_class

    nodes = _run(_v3_nodes(entrypoint))
    classes: dict[str, type] = {}
    names: dict[str, str] = {}
    for node in nodes:
        cls = v1_class(node)
        schema = node.define_schema()
        classes[schema.node_id] = cls
        if schema.display_name is not None:
            names[schema.node_id] = schema.display_name
    return classes, names


async def _v3_nodes(entrypoint: Any) -> list[Any]:
    extension = entrypoint()
    if inspect.isawaitable(extension):
        extension = await extension
    loaded = extension.on_load()
    if inspect.isawaitable(loaded):
        await loaded
    nodes = extension.get_node_list()
    if inspect.isawaitable(nodes):
        nodes = await nodes
    return list(nodes)


def _run(coroutine: Any) -> Any:
    """Run a V3 entrypoint's coroutines to completion, also when called from a thread with a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _web_dir(module: types.ModuleType, path: Path) -> Path | None:
    web = getattr(module, "WEB_DIRECTORY", None)
    if not isinstance(web, str):
        return None
    root = path if path.is_dir() else path.parent
    folder = (root / web).resolve()
    return folder if folder.is_dir() else None


def _publish(mappings: dict[str, type], display: dict[str, str], added: list[str]) -> None:
    """Make a pack's registered classes visible to other packs through `nodes.NODE_CLASS_MAPPINGS`."""
    from impasto.compat.shims import nodes

    for class_type in added:
        nodes.NODE_CLASS_MAPPINGS[class_type] = mappings[class_type]
        if class_type in display:
            nodes.NODE_DISPLAY_NAME_MAPPINGS[class_type] = display[class_type]
