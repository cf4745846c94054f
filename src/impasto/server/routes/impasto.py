"""impasto's own endpoints under /api/impasto/ (http-api.md §7): health, readiness, pause and resume,
typed cancel and force stop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from impasto import __version__
from impasto.protocol.prompt import is_canonical_uuid, plain_number
from impasto.queue import JOBS_API_STATES, CancelOutcome, Job, JobState, MoveOutcome, status_name
from impasto.server.errors import extension_error, read_json
from impasto.server.keys import CATALOG, DISPATCHER, EXECUTOR, HUB, REPEATS, SETTINGS, STORE
from impasto.server.routing import add_routes
from impasto.server.status import announce, queue_counts

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

    try:
        counts = await queue_counts(store)
        pending, running, paused = counts.pending, counts.running, counts.paused
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


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not is_canonical_uuid(job_id):
        raise extension_error(400, "invalid_job_id", "job ids are canonical lowercase UUIDs", job_id)
    return job_id


@routes.post("/api/impasto/jobs/{job_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Cancel with a typed result (http-api.md §7.5): cancelled | not_running | already_finished | unknown."""
    app = request.app
    job_id = _job_id(request)
    body = await read_json(request) if request.can_read_body else {}
    scope = body.get("scope", "any") if isinstance(body, dict) else None
    if scope not in ("any", "running"):
        raise extension_error(400, "invalid_scope", 'scope must be "any" or "running"', repr(scope))
    try:
        wait = min(max(float(request.query.get("wait", "0")), 0.0), 30.0)
    except ValueError:
        details = request.query["wait"]
        raise extension_error(400, "invalid_wait", "wait must be a number of seconds", details) from None
    store = app[STORE]
    if scope == "running":
        jobs = await asyncio.to_thread(store.request_interrupt, job_id)
        if jobs:
            result = "cancelled" if await app[DISPATCHER].cancel(job_id) else "already_finished"
        else:
            found = await asyncio.to_thread(store.get, job_id)
            result = (
                "unknown"
                if found is None
                else ("not_running" if found.state is JobState.PENDING else "already_finished")
            )
    else:
        outcome = await asyncio.to_thread(store.cancel, job_id)
        result = outcome.outcome.value
        if outcome.outcome is CancelOutcome.CANCELLED and outcome.was is JobState.IN_PROGRESS:
            # Recorded as requested; the answer says what it did: the job may end on its own as it travels.
            if not await app[DISPATCHER].cancel(job_id):
                result = CancelOutcome.ALREADY_FINISHED.value
        elif outcome.outcome is CancelOutcome.CANCELLED and outcome.was is JobState.PENDING:
            await announce(store, app[HUB])
        elif outcome.was is JobState.REMOVED:
            result = CancelOutcome.ALREADY_FINISHED.value  # a repeated cancel of a removed job
    if result == "cancelled" and wait > 0:
        await app[DISPATCHER].wait_finished(job_id, wait)
    job = await asyncio.to_thread(store.get, job_id)
    answer: dict[str, object] = {"id": job_id, "result": result}
    if job is not None:
        answer["status"] = status_name(job.state)
    return web.json_response(answer)


@routes.post("/api/impasto/jobs/{job_id}/force-stop")
async def force_stop(request: web.Request) -> web.Response:
    """Kill the worker running the job now (http-api.md §7.6); answers once the job is recorded."""
    app = request.app
    job_id = _job_id(request)
    jobs = await asyncio.to_thread(app[STORE].request_interrupt, job_id)
    if jobs and await app[DISPATCHER].force_stop(job_id):
        return web.json_response({"id": job_id, "result": "stopped", "worker": jobs[0].worker_id})
    job = await asyncio.to_thread(app[STORE].get, job_id)
    if job is None:
        result = "unknown"
    elif job.state is JobState.PENDING:
        result = "not_running"
    else:
        result = "already_finished"
    return web.json_response({"id": job_id, "result": result})


_MOVE_ERRORS = {
    MoveOutcome.JOB_NOT_FOUND: (404, "job not found"),
    MoveOutcome.JOB_NOT_PENDING: (409, "only a pending job can be moved"),
    MoveOutcome.ANCHOR_NOT_FOUND: (404, "the job to move before was not found"),
    MoveOutcome.ANCHOR_NOT_PENDING: (409, "the job to move before is not pending"),
}


@routes.post("/api/impasto/jobs/{job_id}/move")
async def move(request: web.Request) -> web.Response:
    """Reorder a pending job (http-api.md §7.8): `{"to": "front"|"back"}` or `{"before": "<job id>"}`."""
    app = request.app
    job_id = _job_id(request)
    body = await read_json(request) if request.can_read_body else None
    valid = (
        isinstance(body, dict)
        and len(body) == 1
        and (body.get("to") in ("front", "back") or (isinstance(body.get("before"), str) and body["before"] != job_id))
    )
    if not valid:
        raise extension_error(
            400, "invalid_move", 'the body must be exactly {"to": "front"}, {"to": "back"} or {"before": "<other id>"}'
        )
    assert isinstance(body, dict)
    store = app[STORE]
    moved = await asyncio.to_thread(store.move, job_id, to=body.get("to"), before=body.get("before"))
    if moved.outcome is not MoveOutcome.MOVED:
        status, message = _MOVE_ERRORS[moved.outcome]
        raise extension_error(status, moved.outcome.value, message, job_id)
    await announce(store, app[HUB])
    number = plain_number(moved.number if moved.number is not None else 0)
    return web.json_response({"id": job_id, "number": number, "position": moved.position})


@routes.get("/api/impasto/jobs/{job_id}")
async def job_details(request: web.Request) -> web.Response:
    """impasto's view of one job (http-api.md §7.7), including why it stopped."""
    job_id = _job_id(request)
    store = request.app[STORE]
    job = await asyncio.to_thread(store.get, job_id)
    if job is None:
        raise extension_error(404, "job_not_found", "job not found", job_id)
    position = None
    if job.state is JobState.PENDING:
        pending = await asyncio.to_thread(store.pending)
        position = next((i + 1 for i, j in enumerate(pending) if j.id == job_id), None)
    number = plain_number(job.number)
    body: dict[str, object] = {
        "id": job.id,
        "status": status_name(job.state),
        "number": number,
        "position": position,
        "create_time": job.created_ms,
        "start_time": job.started_ms,
        "end_time": job.ended_ms,
        "worker": job.worker_id,
        "client_id": job.client_id,
        "batch_id": None,
        "batch_index": None,
        "repeat_id": None,
        "stop_reason": job.stop_reason if job.status_str != "success" else None,
        "values": {},
    }
    return web.json_response(body)


@routes.post("/api/impasto/queue/clear")
async def clear(request: web.Request) -> web.Response:
    """Remove every pending job and, optionally, stop the running ones, in one store transaction (§7.11)."""
    app = request.app
    body = await read_json(request) if request.can_read_body else {}
    include_running = body.get("include_running", False) if isinstance(body, dict) else None
    if not isinstance(include_running, bool):
        raise extension_error(400, "invalid_request_body", "include_running must be true or false")
    store = app[STORE]
    removed, interrupted, stopped = await asyncio.to_thread(store.clear_queue, include_running=include_running)
    app[REPEATS].forget(stopped)
    for job in interrupted:
        app[DISPATCHER].interrupt(job.id)
    if removed or interrupted or stopped:
        await announce(store, app[HUB])
    body_out = {
        "removed": len(removed),
        "interrupted": len(interrupted),
        "repeats_stopped": len(stopped),
        "seq": app[HUB].seq,
    }
    return web.json_response(body_out)


def _titles(prompt: dict[str, Any]) -> dict[str, str]:
    """What a panel calls each node of a running job: its title in the UI, else its class."""
    titles = {}
    for node_id, node in prompt.items():
        meta = node.get("_meta") if isinstance(node, dict) else None
        title = meta.get("title") if isinstance(meta, dict) else None
        titles[node_id] = title if isinstance(title, str) and title else str(node.get("class_type", node_id))
    return titles


@routes.get("/api/impasto/queue")
async def queue_status(request: web.Request) -> web.Response:
    """The queue without prompt graphs (§7.3): counts, the running jobs, pending jobs in run order."""
    app = request.app
    try:
        limit = min(max(int(request.query.get("limit", "500")), 0), 10_000)
    except ValueError:
        raise extension_error(400, "invalid_request_body", "limit must be an integer") from None
    store = app[STORE]

    def read() -> tuple[list[Job], list[Job], dict[str, int], bool]:
        counts = {status: store.list_jobs([status], limit=1)[1] for status in JOBS_API_STATES}
        return store.running(), store.pending()[:limit], counts, store.is_paused()

    running, pending, counts, paused = await asyncio.to_thread(read)
    dispatcher = app[DISPATCHER]
    repeats = app[REPEATS]
    body = {
        "seq": app[HUB].seq,
        "paused": paused,
        "counts": counts,
        "running": [
            {
                "id": job.id,
                "number": plain_number(job.number),
                "worker": job.worker_id,
                "create_time": job.created_ms,
                "start_time": job.started_ms,
                "node": dispatcher.current_node(job.id),
                "node_titles": _titles(job.prompt),
                "cancel_requested": job.cancel_requested,
                "client_id": job.client_id,
                "batch_id": None,
                "repeat_id": repeats.repeat_of(job.id),
            }
            for job in running
        ],
        "pending": [
            {
                "id": job.id,
                "number": plain_number(job.number),
                "position": index + 1,
                "create_time": job.created_ms,
                "client_id": job.client_id,
                "batch_id": None,
                "batch_index": None,
                "repeat_id": repeats.repeat_of(job.id),
                "workflow_id": job.workflow_id,
            }
            for index, job in enumerate(pending)
        ],
        "pending_total": counts["pending"],
        "workers": app[EXECUTOR].workers(),
    }
    return web.json_response(body)
