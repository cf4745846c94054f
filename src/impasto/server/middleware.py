"""Security middleware (http-api.md §1.3): the loopback origin guard and CORS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from impasto.config import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}
CORS_HEADERS = "Content-Type, Authorization, Idempotency-Key, Comfy-User"


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def origin_guard(settings: Settings) -> Middleware:
    origin_allowed = settings.enable_cors_header

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if origin_allowed is not None:
            if request.method == "OPTIONS":
                response: web.StreamResponse = web.Response(status=200)
            else:
                response = await handler(request)
            response.headers["Access-Control-Allow-Origin"] = origin_allowed
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, DELETE, PUT, OPTIONS, PATCH"
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Allow-Credentials"] = "true"
            return response
        host = request.headers.get("Host", "")
        origin = request.headers.get("Origin")
        if origin and _host_name(host) in LOOPBACK:
            parsed = urlsplit(origin)
            if parsed.netloc != host:
                return web.json_response({"error": "cross-origin request refused"}, status=403)
        return await handler(request)

    return guard
