"""`create_app(settings, store, executor, node_host)`: the aiohttp application, with no singletons."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from impasto.config import Settings
from impasto.graph.heavy import heavy_inputs
from impasto.protocol.devices import cpu_device
from impasto.queue import JobStore
from impasto.server import middleware
from impasto.server.catalog import Catalog, catalog_file
from impasto.server.custom_routes import PackRoutes, pack_routes_middleware
from impasto.server.dispatch import Dispatcher
from impasto.server.errors import error_middleware
from impasto.server.hub import Hub
from impasto.server.idempotency import Idempotency
from impasto.server.keys import (
    CATALOG,
    DEVICES,
    DISPATCHER,
    EXECUTOR,
    EXTENSION_DIRS,
    HUB,
    IDEMPOTENCY,
    NODE_HOST,
    PACK_DIRS_KNOWN,
    PACK_ROUTES,
    REPEATS,
    SETTINGS,
    STORE,
)
from impasto.server.repeats import Repeats
from impasto.server.routes import (
    batches,
    files,
    frontend,
    history,
    jobs,
    models,
    object_info,
    prompt,
    repeats,
    system,
    userdata,
    users,
    ws,
)
from impasto.server.routes import impasto as impasto_routes
from impasto.server.routes import queue as queue_routes
from impasto.workers.executor import Executor
from impasto.workers.nodehost import NodeDefinitions

log = logging.getLogger(__name__)

API_MODULES = (
    prompt,
    queue_routes,
    history,
    jobs,
    object_info,
    ws,
    impasto_routes,
    batches,
    repeats,
    users,
    userdata,
    files,
    models,
    system,
)


def create_app(settings: Settings, store: JobStore, executor: Executor, node_host: NodeDefinitions) -> web.Application:
    pack_routes = PackRoutes(node_host)
    app = web.Application(
        client_max_size=settings.max_upload_bytes,
        middlewares=[middleware.origin_guard(settings), error_middleware, pack_routes_middleware(pack_routes)],
    )
    app[PACK_ROUTES] = pack_routes
    app[SETTINGS] = settings
    app[STORE] = store
    app[EXECUTOR] = executor
    app[NODE_HOST] = node_host
    hub = Hub()
    app[HUB] = hub
    catalog = app[CATALOG] = Catalog(node_host, catalog_file(settings))
    app[DISPATCHER] = Dispatcher(
        store,
        executor,
        hub,
        interrupt_grace=lambda: users.interrupt_grace(settings),
        job_time_limit=settings.job_time_limit,
        heavy_inputs=lambda prompt: heavy_inputs(prompt, catalog.defs),
        noop_repeat_interval=settings.noop_repeat_interval_ms / 1000,
    )
    app[IDEMPOTENCY] = Idempotency(store, settings.idempotency_ttl_hours)
    app[REPEATS] = Repeats(store, app[DISPATCHER], hub, app[CATALOG], node_host)
    app[DEVICES] = [cpu_device()]
    app[EXTENSION_DIRS] = _extension_dirs()
    app[PACK_DIRS_KNOWN] = asyncio.Event()
    for module in API_MODULES:
        module.setup(app)
    frontend.setup(app)
    app.cleanup_ctx.append(_runtime)
    return app


def _extension_dirs() -> dict[str, Path]:
    web_dir = Path(__file__).resolve().parent.parent / "web"
    return {system.OWN_EXTENSION: web_dir} if web_dir.is_dir() else {}


async def _runtime(app: web.Application) -> AsyncIterator[None]:
    """Background work for the app's lifetime: workers, the dispatcher and the node catalog."""
    catalog = app[CATALOG]
    catalog.load_cached()
    dispatcher = app[DISPATCHER]
    executor = app[EXECUTOR]

    async def start_workers() -> None:
        await executor.start()
        app[DEVICES][:] = executor.devices() or app[DEVICES]
        dispatcher.kick()

    async def warm_catalog() -> None:
        try:
            await catalog.refresh()
        except Exception as exc:  # the node host failed to start: /object_info answers 503 until it does
            log.error("the node host did not answer: %s", exc)
        await system.add_pack_extensions(app, app[NODE_HOST])

    dispatcher.start()
    await app[REPEATS].start()
    tasks = [asyncio.create_task(start_workers()), asyncio.create_task(warm_catalog())]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in app[HUB].channels():
        channel.close()
    await app[REPEATS].stop()
    await dispatcher.stop()
    await app[PACK_ROUTES].close()
    await executor.close()
    await asyncio.to_thread(app[NODE_HOST].close)
