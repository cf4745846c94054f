"""System and frontend plumbing: /system_stats, /features, /extensions, /i18n, /workflow_templates and the
/internal routes (http-api.md §6.1, §6.4).

`routes` are served at the bare path and under /api. `bare_routes` are served only where they are declared:
the extension files at /extensions/<pack>/..., the template files at /api/workflow_templates/..., and /internal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from impasto.config import FRONTEND_VERSION, Settings
from impasto.protocol.devices import cpu_device
from impasto.server.errors import error, read_json_object
from impasto.server.keys import DEVICES, EXTENSION_DIRS, PACK_DIRS_KNOWN, SETTINGS
from impasto.server.logbuffer import LogBuffer
from impasto.server.routing import add_routes
from impasto.server.static import contained_file, within
from impasto.workers.nodehost import NodeDefinitions

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
bare_routes = web.RouteTableDef()

LOG_BUFFER = web.AppKey("log_buffer", LogBuffer)
# Client ids that asked for `logs` messages over the WebSocket (PATCH /internal/logs/subscribe).
LOG_SUBSCRIBERS = web.AppKey("log_subscribers", set[str])

IMPASTO_API_VERSION = 1
# Where a pack keeps example workflows; the first folder that exists is used.
_TEMPLATE_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")
# Locale files besides main.json, each merged under the key of its stem.
_LOCALE_FILES = ("nodeDefs", "commands", "settings")


def setup(app: web.Application) -> None:
    if DEVICES not in app:
        app[DEVICES] = [cpu_device()]
    if EXTENSION_DIRS not in app:
        app[EXTENSION_DIRS] = {}
    if LOG_BUFFER not in app:
        app[LOG_BUFFER] = LogBuffer()
    if LOG_SUBSCRIBERS not in app:
        app[LOG_SUBSCRIBERS] = set()
    app.cleanup_ctx.append(_capture_logs)
    add_routes(app, routes)
    add_routes(app, bare_routes, api_alias=False)


async def _capture_logs(app: web.Application) -> AsyncIterator[None]:
    buffer = app[LOG_BUFFER]
    buffer.install()
    yield
    buffer.remove()


def server_features(settings: Settings) -> dict[str, Any]:
    """The server's feature flags, as sent by GET /features and in the WebSocket handshake."""
    return {
        "supports_preview_metadata": True,
        "max_upload_size": settings.max_upload_bytes,
        "impasto_api_version": IMPASTO_API_VERSION,
    }


# --- system information ---


def _memory() -> tuple[int, int]:
    """Total and available RAM in bytes from /proc/meminfo; zeros where there is none."""
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    except OSError:
        return 0, 0
    return values.get("MemTotal", 0), values.get("MemAvailable", values.get("MemFree", 0))


def _torch_version() -> str | None:
    # From the installed distribution's metadata: importing torch is what the server must never do.
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def _system(settings: Settings) -> dict[str, Any]:
    ram_total, ram_free = _memory()
    return {
        "os": os.name,
        "ram_total": ram_total,
        "ram_free": ram_free,
        "comfyui_version": settings.emulated_comfyui_version,
        "required_frontend_version": FRONTEND_VERSION,
        "installed_templates_version": None,
        "required_templates_version": None,
        "python_version": sys.version,
        "pytorch_version": _torch_version(),
        "embedded_python": False,
        "argv": sys.argv,
    }


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    system = await asyncio.to_thread(_system, request.app[SETTINGS])
    devices = request.app[DEVICES] or [cpu_device()]
    return web.json_response({"system": system, "devices": devices})


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    return web.json_response(server_features(request.app[SETTINGS]))


# --- frontend extensions, translations and templates ---


def _extension_dirs(app: web.Application) -> dict[str, Path]:
    return {pack: Path(directory) for pack, directory in app[EXTENSION_DIRS].items()}


PACK_DIRS_WAIT_S = 30.0  # how long /extensions waits, at start-up, for the node host to name the packs' folders


async def add_pack_extensions(app: web.Application, host: NodeDefinitions) -> None:
    """Serves the packs' WEB_DIRECTORY folders as /extensions/<pack>/ (impasto's own wins a clash)."""
    try:
        folders = await asyncio.to_thread(host.web_directories)
    except Exception as exc:  # the node host is down: the packs' extensions are not served
        log.error("the node host did not name the packs' extension folders: %s", exc)
        folders = {}
    finally:
        app.setdefault(PACK_DIRS_KNOWN, asyncio.Event()).set()
    dirs = app[EXTENSION_DIRS]
    for pack, folder in folders.items():
        if pack in dirs:
            log.warning("the extension folder of pack %s is not served: the name is taken", pack)
        else:
            dirs[pack] = Path(folder)


def _scripts(dirs: dict[str, Path]) -> list[str]:
    urls: list[str] = []
    for pack, root in dirs.items():
        real_root = os.path.realpath(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                # Only what the file route below will serve: a link out of the folder is not listed.
                if name.endswith(".js") and not name.startswith(".") and within(os.path.realpath(path), real_root):
                    relative = os.path.relpath(path, root).replace(os.sep, "/")
                    urls.append(f"/extensions/{quote(pack, safe='')}/{quote(relative)}")
    return urls


@routes.get("/extensions")
async def extensions(request: web.Request) -> web.Response:
    known = request.app.get(PACK_DIRS_KNOWN)  # set when the app has a node host that names the packs' folders
    if known is not None:
        with contextlib.suppress(TimeoutError):  # a page loaded while the server starts gets every pack's scripts
            await asyncio.wait_for(known.wait(), PACK_DIRS_WAIT_S)
    return web.json_response(await asyncio.to_thread(_scripts, _extension_dirs(request.app)))


# `core` belongs to the frontend's own static files, which are served by another route; excluding it here
# keeps this dynamic route from shadowing them.
@bare_routes.get("/extensions/{pack:(?!core/)[^/]+}/{path:.+}")
async def extension_file(request: web.Request) -> web.StreamResponse:
    root = _extension_dirs(request.app).get(request.match_info["pack"])
    if root is None:
        raise error(404, "unknown extension")
    return web.FileResponse(await asyncio.to_thread(contained_file, root, request.match_info["path"]))


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("skipping unreadable translation file %s: %s", path, exc)
        return None
    return value if isinstance(value, dict) else None


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _translations(dirs: dict[str, Path]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for root in dirs.values():
        locales = root.parent / "locales"
        if not locales.is_dir():
            continue
        for lang in sorted(p for p in locales.iterdir() if p.is_dir()):
            found: dict[str, Any] = {}
            _merge(found, _json_object(lang / "main.json") or {})
            for stem in _LOCALE_FILES:
                data = _json_object(lang / f"{stem}.json")
                if data is not None:
                    _merge(found, {stem: data})
            if found:
                _merge(merged.setdefault(lang.name, {}), found)
    return merged


@routes.get("/i18n")
async def i18n(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(_translations, _extension_dirs(request.app)))


OWN_EXTENSION = "impasto"  # impasto's own frontend extension, listed with the packs' ones


def _template_folder(root: Path) -> Path | None:
    return next((root / name for name in _TEMPLATE_FOLDERS if (root / name).is_dir()), None)


def _templates(dirs: dict[str, Path]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pack, root in dirs.items():
        if pack == OWN_EXTENSION:
            continue  # impasto's examples/ holds API-format workflows for the README, not UI templates
        folder = _template_folder(root.parent)
        if folder is None:
            continue
        names = sorted(p.stem for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
        if names:
            out[pack] = names
    return out


@routes.get("/workflow_templates")
async def workflow_templates(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(_templates, _extension_dirs(request.app)))


def _template_file(root: Path, name: str) -> Path:
    folder = _template_folder(root.parent)
    if folder is None:
        raise error(404, "the pack has no workflow templates")
    return contained_file(folder, name)


@bare_routes.get("/api/workflow_templates/{pack}/{file}")
async def workflow_template_file(request: web.Request) -> web.StreamResponse:
    root = _extension_dirs(request.app).get(request.match_info["pack"])
    if root is None:
        raise error(404, "unknown pack")
    return web.FileResponse(await asyncio.to_thread(_template_file, root, request.match_info["file"]))


# --- /internal (bare paths only) ---


@bare_routes.get("/internal/logs")
async def logs(request: web.Request) -> web.Response:
    return web.json_response(request.app[LOG_BUFFER].text())


@bare_routes.get("/internal/logs/raw")
async def logs_raw(request: web.Request) -> web.Response:
    size = shutil.get_terminal_size()
    entries = request.app[LOG_BUFFER].entries()
    return web.json_response({"entries": entries, "size": {"cols": size.columns, "rows": size.lines}})


@bare_routes.patch("/internal/logs/subscribe")
async def logs_subscribe(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    client_id, enabled = body.get("clientId"), body.get("enabled")
    if not isinstance(client_id, str) or not isinstance(enabled, bool):
        raise error(400, "expected {'clientId': str, 'enabled': bool}")
    subscribers = request.app[LOG_SUBSCRIBERS]
    if enabled:
        subscribers.add(client_id)
    else:
        subscribers.discard(client_id)
    return web.Response(status=200)


@bare_routes.get("/internal/folder_paths")
async def folder_paths(request: web.Request) -> web.Response:
    folders = request.app[SETTINGS].folders
    paths = {name: [str(p) for p in dirs] for name, dirs in folders.model_folders.items()}
    paths["custom_nodes"] = [str(p) for p in folders.custom_nodes]
    return web.json_response(paths)


def _newest_first(folder: Path) -> list[str]:
    try:
        entries = [e for e in os.scandir(folder) if e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    entries.sort(key=_mtime, reverse=True)
    return [e.name for e in entries]


def _mtime(entry: os.DirEntry[str]) -> float:
    try:
        return entry.stat().st_mtime
    except OSError:
        return 0.0  # removed while listing: sorts last


@bare_routes.get("/internal/files/{directory_type}")
async def internal_files(request: web.Request) -> web.Response:
    folders = request.app[SETTINGS].folders
    folder = {"input": folders.input, "output": folders.output, "temp": folders.temp}.get(
        request.match_info["directory_type"]
    )
    if folder is None:
        raise error(400, "Invalid directory type")
    return web.json_response(await asyncio.to_thread(_newest_first, folder))
