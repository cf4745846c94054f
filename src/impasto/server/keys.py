"""Application state keys: everything a handler needs is reached through these, never through globals."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from impasto.config import Settings
from impasto.queue import JobStore
from impasto.server.catalog import Catalog
from impasto.server.custom_routes import PackRoutes
from impasto.server.dispatch import Dispatcher
from impasto.server.hub import Hub
from impasto.server.idempotency import Idempotency
from impasto.server.repeats import Repeats
from impasto.workers.executor import Executor
from impasto.workers.nodehost import NodeDefinitions

SETTINGS = web.AppKey("settings", Settings)
# Devices the workers report for /system_stats: [{"name", "type", "index", "vram_total", ...}].
DEVICES = web.AppKey("devices", list[dict[str, Any]])
# URL paths of frontend extension scripts (/extensions/<pack>/<file>.js) and the folders they are served from.
EXTENSION_DIRS = web.AppKey("extension_dirs", dict[str, Any])
PACK_DIRS_KNOWN = web.AppKey("pack_dirs_known", asyncio.Event)  # set once the packs' folders are in EXTENSION_DIRS
STORE = web.AppKey("store", JobStore)
HUB = web.AppKey("hub", Hub)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
CATALOG = web.AppKey("catalog", Catalog)
NODE_HOST = web.AppKey("node_host", NodeDefinitions)
EXECUTOR = web.AppKey("executor", Executor)
PACK_ROUTES = web.AppKey("pack_routes", PackRoutes)
REPEATS = web.AppKey("repeats", Repeats)
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)
