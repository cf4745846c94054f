"""Server-side batches (http-api.md §7.9): one request, N jobs with per-item seed control."""

from __future__ import annotations

import asyncio
import copy
import random
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from impasto.graph.seeds import SeedSpecError, item_values, parse_targets
from impasto.graph.validate import validate_prompt
from impasto.protocol.errors import PromptErrorType, error_info
from impasto.protocol.prompt import plain_number
from impasto.protocol.workflow import show_item_values
from impasto.queue import AnswerExistsError, CancelOutcome, DuplicateJobError, Job, JobState, status_name
from impasto.server.errors import extension_error, read_json
from impasto.server.idempotency import Ticket
from impasto.server.keys import CATALOG, DISPATCHER, HUB, IDEMPOTENCY, NODE_HOST, SETTINGS, STORE
from impasto.server.routes.prompt import extra_data_of, new_job, rejected, validate_body_prompt
from impasto.server.routing import add_routes
from impasto.server.status import announce, read_counts

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    add_routes(app, routes, api_alias=False)


@routes.post("/api/impasto/batches")
async def create_batch(request: web.Request) -> web.Response:
    return await request.app[IDEMPOTENCY].run(request, lambda ticket: _create(request, ticket))


async def _create(request: web.Request, ticket: Ticket | None) -> web.Response:
    app = request.app
    body = await read_json(request)
    if not isinstance(body, dict) or "prompt" not in body:
        raise extension_error(400, "invalid_batch", "the body must be an object with a prompt")
    count = body.get("count", 1)
    most = app[SETTINGS].max_batch_count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= most:
        raise extension_error(400, "invalid_batch", f"count must be an integer from 1 to {most}", repr(count))
    validation = await validate_body_prompt(app, body)
    defs = app[CATALOG].defs
    try:
        targets, before = parse_targets(body.get("seed"), validation.prompt, defs, count)
        values = item_values(targets, validation.prompt, defs, count, before=before, rng=random.Random())
    except SeedSpecError as exc:
        raise extension_error(400, "invalid_seed_spec", str(exc)) from exc
    extra_data, sensitive = extra_data_of(body, request)
    counter_front = bool(body.get("front"))
    batch_id = str(uuid.uuid4())
    items = []
    for index, item in enumerate(values):
        prompt = copy.deepcopy(validation.prompt)
        for key, value in item.items():
            node_id, name = key.rsplit(".", 1)
            prompt[node_id]["inputs"][name] = value
        checked = await asyncio.to_thread(validate_prompt, prompt, defs, app[NODE_HOST].validate, None)
        if checked.error is not None:
            raise extension_error(400, "invalid_seed_spec", f"item {index} does not validate", checked.error["details"])
        items.append((checked, item))
    store = app[STORE]
    limit = app[SETTINGS].max_queue_size

    def answer_body(added: Sequence[Job]) -> dict[str, Any]:
        jobs = [
            {"prompt_id": job.id, "number": plain_number(job.number), "index": index, "values": items[index][1]}
            for index, job in enumerate(added)
        ]
        return {
            "batch_id": batch_id,
            "requested": count,
            "enqueued": len(added),
            "node_errors": validation.node_errors,
            "jobs": jobs,
        }

    answer = None if ticket is None else ticket.answer(200, answer_body)

    def enqueue() -> tuple[list[Any], Any]:
        first = store.next_number()
        for _ in range(count - 1):
            store.next_number()  # consecutive numbers, one per item
        jobs = []
        for index, (checked, item) in enumerate(items):
            number = float(-(first + count - 1 - index) if counter_front else first + index)
            item_extra = copy.deepcopy(extra_data)
            show_item_values(item_extra, item)
            jobs.append(new_job(str(uuid.uuid4()), number, checked, item_extra))
        added = store.add_batch(batch_id, jobs, requested=count, max_pending=limit, answer=answer)
        return added, read_counts(store)

    try:
        added, counts = await asyncio.to_thread(enqueue)
    except DuplicateJobError as exc:  # only with colliding random ids; nothing was queued
        raise rejected(409, error_info(PromptErrorType.DUPLICATE_PROMPT_ID, "job id collision", str(exc))) from exc
    except AnswerExistsError:
        raise extension_error(409, "idempotency_key_in_progress", "another request took this key") from None
    dispatcher = app[DISPATCHER]
    if sensitive:
        for job in added:
            dispatcher.sensitive[job.id] = sensitive
    app[HUB].status(counts)  # one status for the whole batch
    dispatcher.kick()
    return web.json_response(answer_body(added))


async def _record(request: web.Request) -> Any:
    batch_id = request.match_info["batch_id"]
    record = await asyncio.to_thread(request.app[STORE].get_batch, batch_id)
    if record is None:
        raise extension_error(404, "batch_not_found", "batch not found", batch_id)
    return record


@routes.get("/api/impasto/batches/{batch_id}")
async def get_batch(request: web.Request) -> web.Response:
    record = await _record(request)
    store = request.app[STORE]
    jobs = await asyncio.to_thread(lambda: [store.get(job_id) for job_id in record.job_ids])
    counts: dict[str, int] = {}
    for job in jobs:
        if job is not None:
            status = status_name(job.state)
            counts[status] = counts.get(status, 0) + 1
    answer = {
        "batch_id": record.id,
        "requested": record.requested,
        "enqueued": len(record.job_ids),
        "counts": counts,
        "jobs": list(record.job_ids),
    }
    return web.json_response(answer)


@routes.post("/api/impasto/batches/{batch_id}/cancel")
async def cancel_batch(request: web.Request) -> web.Response:
    app = request.app
    record = await _record(request)
    store = app[STORE]
    cancelled = finished = 0
    removed_any = False
    for job_id in record.job_ids:
        outcome = await asyncio.to_thread(store.cancel, job_id)
        if outcome.outcome is CancelOutcome.CANCELLED and outcome.was is JobState.PENDING:
            cancelled += 1
            removed_any = True
        elif outcome.outcome is CancelOutcome.CANCELLED and outcome.was is JobState.IN_PROGRESS:
            stopped = await app[DISPATCHER].cancel(job_id)  # False: it ended on its own as the cancel travelled
            cancelled, finished = cancelled + stopped, finished + (not stopped)
        else:
            finished += 1
    if removed_any:
        await announce(store, app[HUB])
    return web.json_response({"batch_id": record.id, "cancelled": cancelled, "already_finished": finished})
