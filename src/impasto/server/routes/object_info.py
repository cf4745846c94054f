"""GET /object_info and /object_info/{class} (http-api.md §5.1): refreshed from the node host per request."""

from __future__ import annotations

import logging

from aiohttp import web

from impasto.server.keys import CATALOG
from impasto.server.routing import add_routes
from impasto.workers.nodehost import NodeHostUnavailable

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    add_routes(app, routes)


async def _fresh(app: web.Application) -> None:
    """Refresh (file-dependent combo lists are live); a host that is not up yet leaves the saved catalog."""
    catalog = app[CATALOG]
    if catalog.ready.is_set() and not catalog.host_answered:
        return  # a restart: the saved catalog answers until the node host is up (it is starting already)
    try:
        await catalog.refresh()
    except NodeHostUnavailable as exc:
        if not catalog.ready.is_set():
            raise web.HTTPServiceUnavailable(reason=f"node definitions are unavailable: {exc}") from exc
        log.warning("serving the saved node catalog: %s", exc)


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    await _fresh(request.app)
    return web.json_response(request.app[CATALOG].object_info())


@routes.get("/object_info/{node_class}")
async def object_info_one(request: web.Request) -> web.Response:
    await _fresh(request.app)
    name = request.match_info["node_class"]
    info = request.app[CATALOG].object_info()
    return web.json_response({name: info[name]} if name in info else {})
