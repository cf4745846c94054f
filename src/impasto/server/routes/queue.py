"""GET/POST /queue, POST /interrupt and POST /free (http-api.md §3.3-3.6)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from impasto.protocol.prompt import plain_number
from impasto.queue import QueueItem
from impasto.server.errors import read_json
from impasto.server.keys import DISPATCHER, EXECUTOR, HUB, REPEATS, STORE
from impasto.server.routing import add_routes
from impasto.server.status import announce

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    app[QUEUE_VIEW] = _QueueView()
    add_routes(app, routes)


def _item(item: QueueItem) -> str:
    # Built from the stored JSON text: no prompt is parsed to list a long queue. Numbers are finite and ids
    # canonical UUIDs (both checked at submission), so they need no JSON escaping.
    return f'[{plain_number(item.number)!r},"{item.id}",{item.prompt_json},{item.extra_data_json},{item.outputs_json}]'


@dataclass
class _QueueView:
    """The last /queue answer and the store's change count it was built at (clients poll an idle queue)."""

    change: int | None = None
    text: str = ""


QUEUE_VIEW = web.AppKey("queue_view", _QueueView)


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    store = request.app[STORE]
    view = request.app[QUEUE_VIEW]
    known = view.change

    def read() -> tuple[int, str | None]:
        change = store.change_count()
        if change == known:
            return change, None  # nothing changed: the last answer stands
        running, pending = store.queue_items()
        return change, (
            '{"queue_running":['
            + ",".join(_item(i) for i in running)
            + '],"queue_pending":['
            + ",".join(_item(i) for i in pending)
            + "]}"
        )

    change, text = await asyncio.to_thread(read)
    if text is None:
        text = view.text
    else:
        view.change, view.text = change, text
    return web.Response(text=text, content_type="application/json")


async def _body_or_empty(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    return await read_json(request)


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    body = await _body_or_empty(request)
    if not isinstance(body, dict):
        return web.json_response({"error": "Request body must be a JSON object"}, status=400)
    store = request.app[STORE]
    changed = False
    if body.get("clear") is True:  # stops the live repeats too (http-api.md §7.10)
        removed, _running, stopped = await asyncio.to_thread(store.clear_queue, include_running=False)
        request.app[REPEATS].forget(stopped)
        changed |= bool(removed or stopped)
    delete = body.get("delete")
    if delete is not None:
        if not isinstance(delete, list):
            return web.json_response({"error": "delete must be a list of prompt ids"}, status=400)
        ids = [i for i in delete if isinstance(i, str)]
        changed |= bool(await asyncio.to_thread(store.delete_pending, ids))
    if changed:
        await announce(request.app[STORE], request.app[HUB])
    return web.Response(status=200)


@routes.post("/interrupt")
async def post_interrupt(request: web.Request) -> web.Response:
    try:
        body = await _body_or_empty(request)
    except web.HTTPException:
        raise
    except Exception:
        body = {}
    prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
    if not isinstance(prompt_id, str):
        prompt_id = None
    # Recorded first (one transaction with the state lookup), then signalled: it cannot land on another job.
    jobs = await asyncio.to_thread(request.app[STORE].request_interrupt, prompt_id)
    for job in jobs:
        request.app[DISPATCHER].interrupt(job.id)
    return web.Response(status=200)


@routes.post("/free")
async def post_free(request: web.Request) -> web.Response:
    try:
        body = await _body_or_empty(request)
    except Exception:
        body = {}
    if not isinstance(body, dict):
        body = {}
    unload = body.get("unload_models") is True
    free = body.get("free_memory") is True
    if unload or free:
        request.app[EXECUTOR].free(unload_models=unload or free, free_memory=free)
    return web.Response(status=200)
