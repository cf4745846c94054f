"""impasto's own endpoints under /api/impasto/ (http-api.md §7): health, readiness, pause and resume."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from impasto import __version__
from impasto.server.keys import CATALOG, DISPATCHER, EXECUTOR, HUB, SETTINGS, STORE
from impasto.server.routing import add_routes
from impasto.server.status import announce

routes = web.RouteTableDef()
STARTED = web.AppKey("started_monotonic", float)


def setup(app: web.Application) -> None:
    app[STARTED] = time.monotonic()
    add_routes(app, routes, api_alias=False)


@routes.get("/api/impasto/health")
async def health(request: web.Request) -> web.Response:
    uptime_ms = int((time.monotonic() - request.app[STARTED]) * 1000)
    return web.json_response({"status": "ok", "version": __version__, "uptime_ms": uptime_ms})


@routes.get("/api/impasto/ready")
async def ready(request: web.Request) -> web.Response:
    app = request.app
    store = app[STORE]

    def read() -> tuple[int, int, bool]:
        pending, running = store.counts()
        return pending, running, store.is_paused()

    try:
        pending, running, paused = await asyncio.to_thread(read)
        store_check = "ok"
    except Exception:
        pending, running, paused, store_check = 0, 0, False, "error"
    workers_ready = len(app[EXECUTOR].devices())
    checks = {
        "store": store_check,
        "nodes": "ok" if app[CATALOG].ready.is_set() else "loading",
        "workers": "ok" if workers_ready else "starting",
        "queue": "full" if pending >= app[SETTINGS].max_queue_size else "ok",
    }
    is_ready = all(value == "ok" for value in checks.values())
    body = {
        "ready": is_ready,
        "checks": checks,
        "workers_ready": workers_ready,
        "workers_total": app[SETTINGS].workers,
        "queue_depth": pending + running,
        "paused": paused,
    }
    return web.json_response(body, status=200 if is_ready else 503)


async def _set_paused(request: web.Request, paused: bool) -> web.Response:
    app = request.app
    store = app[STORE]

    def swap() -> bool:
        was = store.is_paused()
        if was != paused:
            store.set_paused(paused)
        return was

    was_paused = await asyncio.to_thread(swap)
    if was_paused != paused:
        await announce(store, app[HUB])
        if not paused:
            app[DISPATCHER].kick()
    return web.json_response({"paused": paused, "was_paused": was_paused, "seq": app[HUB].seq})


@routes.post("/api/impasto/queue/pause")
async def pause(request: web.Request) -> web.Response:
    return await _set_paused(request, True)


@routes.post("/api/impasto/queue/resume")
async def resume(request: web.Request) -> web.Response:
    return await _set_paused(request, False)
