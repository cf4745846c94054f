"""HTTP errors as data, and the one middleware that turns exceptions into JSON responses (never a 500 page)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from impasto.protocol.errors import error_info
from impasto.server import json_body

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request that cannot be served: answered with `status` and a JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def extension_error(status: int, type_: str, message: str, details: str = "", **extra: Any) -> ApiError:
    """An impasto-extension error: the prompt-style envelope without `node_errors` (http-api.md §7.1)."""
    return ApiError(status, {"error": error_info(type_, message, details, **extra)})


def error(status: int, message: str, **extra: Any) -> ApiError:
    """A Jobs-style error: `{"error": message, ...}`."""
    return ApiError(status, {"error": message, **extra})


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; a 400 with a reason when it is not JSON."""
    raw = await request.read()
    try:
        return json_body.loads(raw, request.charset)
    except UnicodeDecodeError as exc:
        raise error(400, "Request body must be UTF-8 JSON", details=str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise error(400, "Request body must be valid JSON", details=str(exc)) from exc


async def read_json_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise error(400, "Request body must be a JSON object")
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response(exc.body, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return web.json_response({"error": exc.reason}, status=exc.status, headers=_kept_headers(exc))
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return web.json_response({"error": "internal server error"}, status=500)


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}


def query_int(request: web.Request, name: str) -> int | None:
    """An integer query parameter; absent or empty gives None, anything else a 400."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise error(400, f"{name} must be an integer") from None
