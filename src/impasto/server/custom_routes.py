"""Forwarding requests for the HTTP routes of node packs to the node host, where the packs run.

A request is forwarded when no route of impasto's own matches it (the frontend's static files do not count:
they never shadow an API route, nor a pack's) and a pack route does, by method and path pattern. The node
host answers over its Unix socket; its answer is passed back as it is, apart from hop-by-hop headers. The
origin guard and the upload limit apply as to every request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

from impasto.server.middleware import Handler
from impasto.server.static import STATIC_ROUTE
from impasto.workers.messages import CustomRoutes
from impasto.workers.nodehost import NodeDefinitions, NodeHostUnavailable

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)


async def _not_served(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()  # never called: this router only matches


@dataclass
class _Forwarder:
    routes: CustomRoutes
    router: web.UrlDispatcher
    session: aiohttp.ClientSession


class PackRoutes:
    """The packs' routes as the node host last reported them, and a client session to its socket."""

    def __init__(self, host: NodeDefinitions) -> None:
        self._host = host
        self._forwarder: _Forwarder | None = None
        self._known = False
        self._lock = asyncio.Lock()

    async def _current(self) -> _Forwarder | None:
        if self._known:
            return self._forwarder
        async with self._lock:
            if not self._known:
                routes = await asyncio.to_thread(self._host.routes)
                self._forwarder = None if routes is None else _forwarder(routes)
                self._known = True
        return self._forwarder

    async def forward(self, request: web.Request) -> web.StreamResponse | None:
        """The node host's answer, or None when no pack route matches."""
        try:
            forwarder = await self._current()
        except NodeHostUnavailable:
            return None
        if forwarder is None:
            return None
        match = await forwarder.router.resolve(request)
        if match.http_exception is not None:
            return None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            async with forwarder.session.request(
                request.method, request.rel_url, headers=headers, data=body, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=payload, headers=kept)
        except aiohttp.ClientError as exc:
            log.error("custom-node route %s %s: the node host did not answer: %s", request.method, request.path, exc)
            await self.forget()
            return web.json_response({"error": f"the node host did not answer: {exc}"}, status=503)

    async def forget(self) -> None:
        """Ask the node host again next time (it restarted, with a new socket)."""
        forwarder, self._forwarder, self._known = self._forwarder, None, False
        if forwarder is not None:
            await forwarder.session.close()

    async def close(self) -> None:
        await self.forget()


def _forwarder(routes: CustomRoutes) -> _Forwarder:
    router = web.UrlDispatcher()
    for method, path in routes.routes:
        router.add_route(method, path, _not_served)
    connector = aiohttp.UnixConnector(path=routes.socket_path)
    session = aiohttp.ClientSession(connector=connector, base_url="http://node-host")
    return _Forwarder(routes, router, session)


def pack_routes_middleware(pack_routes: PackRoutes) -> Middleware:
    @web.middleware
    async def forward(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        own = match.http_exception is None and match.route.name != STATIC_ROUTE
        if not own:
            answer = await pack_routes.forward(request)
            if answer is not None:
                return answer
        return await handler(request)

    return forward
