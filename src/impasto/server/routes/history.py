"""GET/POST /history (http-api.md §3.7-3.9) and the history entry shape (execution.md §11)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from impasto.protocol.prompt import plain_number
from impasto.queue import Job
from impasto.server.errors import error, query_int, read_json
from impasto.server.keys import STORE
from impasto.server.routing import add_routes

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    add_routes(app, routes)


def history_entry(job: Job) -> dict[str, Any]:
    return {
        "prompt": [plain_number(job.number), job.id, job.prompt, job.extra_data, job.outputs_to_execute],
        "outputs": job.outputs,
        "status": {
            "status_str": job.status_str,
            "completed": job.status_str == "success",
            "messages": job.messages,
        },
        "meta": job.meta,
    }


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    store = request.app[STORE]
    max_items = query_int(request, "max_items")
    offset = query_int(request, "offset")
    if offset is None or offset < 0:
        if max_items is None:
            jobs = await asyncio.to_thread(store.history, 0, None)
        else:
            total = await asyncio.to_thread(store.history_count)
            jobs = await asyncio.to_thread(store.history, max(0, total - max(max_items, 0)), max(max_items, 0))
    else:
        jobs = await asyncio.to_thread(store.history, offset, None if max_items is None else max(max_items, 0))
    return web.json_response({job.id: history_entry(job) for job in jobs})


@routes.get("/history/{prompt_id}")
async def get_history_entry(request: web.Request) -> web.Response:
    job = await asyncio.to_thread(request.app[STORE].get, request.match_info["prompt_id"])
    if job is None or job.status_str is None or job.finished_seq is None:
        return web.json_response({})
    return web.json_response({job.id: history_entry(job)})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise error(400, "Request body must be a JSON object")
    store = request.app[STORE]
    if body.get("clear") is True:
        await asyncio.to_thread(store.delete_history, None)
    delete = body.get("delete")
    if delete is not None:
        if not isinstance(delete, list):
            raise error(400, "delete must be a list of prompt ids")
        await asyncio.to_thread(store.delete_history, [i for i in delete if isinstance(i, str)])
    return web.Response(status=200)
