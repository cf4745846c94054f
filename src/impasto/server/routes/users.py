"""Users and settings in single-user mode: GET/POST /users, /settings and /settings/{id} (http-api.md §6.1-6.2).

impasto v1 serves one user, `default`, whatever `Comfy-User` says. Its settings are one JSON object in
`<user dir>/default/comfy.settings.json`, rewritten atomically on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from impasto.config import Settings
from impasto.server.errors import error, read_json, read_json_object
from impasto.server.keys import SETTINGS
from impasto.server.routing import add_routes

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

DEFAULT_USER = "default"
SETTINGS_FILE = "comfy.settings.json"

# Serializes the read-modify-write of the settings file: two POSTs at once must not lose either change.
SETTINGS_LOCK = web.AppKey("user_settings_lock", threading.Lock)


def setup(app: web.Application) -> None:
    user_root(app[SETTINGS]).mkdir(parents=True, exist_ok=True)
    app[SETTINGS_LOCK] = threading.Lock()
    add_routes(app, routes)


def user_root(settings: Settings) -> Path:
    """The folder of the single user's files: `<user dir>/default`."""
    return settings.folders.user / DEFAULT_USER


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never a partial write."""
    # A short temporary name: the target's own name may already be at the file-system's length limit.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# impasto's own settings in the user's settings file (frontend.md §12); a flag gives the value when unset.
GRACE_SETTING = "impasto.Queue.InterruptGraceSeconds"
STARTUP_SETTING = "impasto.Queue.StartupState"


def interrupt_grace(settings: Settings) -> float:
    """Seconds an interrupted job may take before its worker is killed: the user's setting, else the flag."""
    value = load_settings(settings).get(GRACE_SETTING)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 3600:
        return float(value)
    return settings.interrupt_grace


def startup_queue_state(settings: Settings) -> str:
    """run, paused or last: the user's setting, else the flag."""
    value = load_settings(settings).get(STARTUP_SETTING)
    return value if value in ("run", "paused", "last") else settings.startup_queue_state


def load_settings(settings: Settings) -> dict[str, Any]:
    """The stored settings object; `{}` when the file is missing, unreadable or not a JSON object."""
    path = user_root(settings) / SETTINGS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.error("cannot read the user settings file %s: %s", path, exc)
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.error("the user settings file %s is corrupt, using no settings: %s", path, exc)
        return {}
    if not isinstance(value, dict):
        log.error("the user settings file %s does not hold a JSON object, using no settings", path)
        return {}
    return value


def _update_settings(app: web.Application, changes: dict[str, Any]) -> None:
    settings = app[SETTINGS]
    with app[SETTINGS_LOCK]:
        merged = {**load_settings(settings), **changes}
        root = user_root(settings)
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(root / SETTINGS_FILE, json.dumps(merged, indent=4).encode())


async def _store(request: web.Request, changes: dict[str, Any]) -> web.Response:
    await asyncio.to_thread(_update_settings, request.app, changes)
    return web.Response(status=200)


@routes.get("/users")
async def get_users(request: web.Request) -> web.Response:
    exists = await asyncio.to_thread(user_root(request.app[SETTINGS]).is_dir)
    return web.json_response({"storage": "server", "migrated": exists})


@routes.post("/users")
async def post_users(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    if not isinstance(body.get("username"), str):
        raise error(400, "username must be a string")
    # Deviation: ComfyUI adds the user even in single-user mode; impasto has nowhere to put one.
    raise error(400, "multi-user mode is disabled")


@routes.get("/settings")
async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(load_settings, request.app[SETTINGS]))


@routes.post("/settings")
async def post_settings(request: web.Request) -> web.Response:
    return await _store(request, await read_json_object(request))


@routes.get("/settings/{id}")
async def get_setting(request: web.Request) -> web.Response:
    stored = await asyncio.to_thread(load_settings, request.app[SETTINGS])
    return web.json_response(stored.get(request.match_info["id"]))


@routes.post("/settings/{id}")
async def post_setting(request: web.Request) -> web.Response:
    return await _store(request, {request.match_info["id"]: await read_json(request)})
