"""The Jobs API (http-api.md §4): job lists, details and cancels, in the exact shape the frontend parses."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from impasto.protocol.prompt import is_canonical_uuid, plain_number
from impasto.queue import CancelOutcome, Job, JobState, JobSummary, status_name
from impasto.server.errors import error, query_int, read_json
from impasto.server.keys import DISPATCHER, HUB, STORE
from impasto.server.routing import add_routes
from impasto.server.status import announce

routes = web.RouteTableDef()

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
MEDIA_KEYS = ("images", "video", "audio", "3d", "text")
_3D = (".obj", ".fbx", ".gltf", ".glb", ".usdz")
_TEXT = (".txt", ".md", ".json")


def setup(app: web.Application) -> None:
    add_routes(app, routes, api_alias=False)


def job_object(job: Job | JobSummary) -> dict[str, Any]:
    status = status_name(job.state)
    obj: dict[str, Any] = {
        "id": job.id,
        "status": status,
        "priority": plain_number(job.number),
        "create_time": job.created_ms,
    }
    if job.started_ms is not None:
        obj["execution_start_time"] = job.started_ms
    if job.ended_ms is not None and status not in ("pending", "in_progress"):
        obj["execution_end_time"] = job.ended_ms
    error_data = _error_of(job)
    if status == "failed" and error_data is not None:
        obj["execution_error"] = error_data
    items = list(_output_items(job.outputs or {})) if status not in ("pending", "in_progress") else []
    previewable = [i for i in items if _previewable(*i)]
    obj["outputs_count"] = sum(1 for key, item, _n in items if not (key == "text" and isinstance(item, str)))
    obj["previewable_outputs_count"] = len(previewable)
    preview = _preview(previewable)
    if preview is not None:
        obj["preview_output"] = preview
    if job.workflow_id is not None:
        obj["workflow_id"] = job.workflow_id
    return obj


def _error_of(job: Job | JobSummary) -> dict[str, Any] | None:
    if isinstance(job, JobSummary):
        return job.error
    for name, data in job.messages:
        if name == "execution_error":
            return dict(data)
    return None


def _output_items(outputs: dict[str, Any]) -> list[tuple[str, Any, str]]:
    items: list[tuple[str, Any, str]] = []
    for node_id, ui in outputs.items():
        if not isinstance(ui, dict):
            continue
        for key, values in ui.items():
            if key == "animated" or not isinstance(values, list):
                continue
            items.extend((key, value, node_id) for value in values if value is not None)
    return items


def _previewable(key: str, item: Any, _node_id: str) -> bool:
    if key in MEDIA_KEYS:
        return True
    if isinstance(item, dict):
        fmt = str(item.get("format", ""))
        name = str(item.get("filename", "")).lower()
        return fmt.startswith(("video/", "audio/")) or name.endswith(_3D + _TEXT)
    return False


def _preview(previewable: list[tuple[str, Any, str]]) -> dict[str, Any] | None:
    def visual(entry: tuple[str, Any, str]) -> bool:
        return isinstance(entry[1], dict) and entry[0] != "text"

    ranked = (
        [e for e in previewable if visual(e) and e[1].get("type") == "output"]
        or [e for e in previewable if visual(e)]
        or [e for e in previewable if isinstance(e[1], dict)]
    )
    if ranked:
        key, item, node_id = ranked[0]
        return {**item, "nodeId": node_id, "mediaType": key}
    texts = [e for e in previewable if isinstance(e[1], str)]
    if texts:
        _key, text, node_id = texts[0]
        preview: dict[str, Any] = {"content": text[:1024], "nodeId": node_id, "mediaType": "text"}
        if len(text) > 1024:
            preview["truncated"] = True
        return preview
    return None


@routes.get("/api/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    query = request.query
    statuses = [s.strip().lower() for s in query.get("status", "").split(",") if s.strip()]
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise error(400, f"Invalid status value(s): {', '.join(bad)}. Valid values: {', '.join(STATUSES)}")
    sort_by = query.get("sort_by", "created_at")
    if sort_by not in ("created_at", "execution_duration"):
        raise error(400, "sort_by must be 'created_at' or 'execution_duration'")
    sort_order = query.get("sort_order", "desc")
    if sort_order not in ("asc", "desc"):
        raise error(400, "sort_order must be 'asc' or 'desc'")
    limit = query_int(request, "limit")
    if limit is not None and limit <= 0:
        raise error(400, "limit must be a positive integer")
    offset = max(0, query_int(request, "offset") or 0)
    jobs, total = await asyncio.to_thread(
        request.app[STORE].list_jobs,
        statuses or list(STATUSES),
        sort_by=sort_by,
        descending=sort_order == "desc",
        offset=offset,
        limit=limit,
        workflow_id=query.get("workflow_id"),
    )
    return web.json_response(
        {
            "jobs": [job_object(j) for j in jobs],
            "pagination": {"offset": offset, "limit": limit, "total": total, "has_more": offset + len(jobs) < total},
        }
    )


@routes.get("/api/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    job = await asyncio.to_thread(request.app[STORE].get, request.match_info["job_id"])
    if job is None or job.state is JobState.REMOVED:
        raise error(404, "Job not found")
    obj = job_object(job)
    if job.status_str is not None:
        obj["outputs"] = {k: v for k, v in job.outputs.items() if v is not None}
        obj["execution_status"] = {
            "status_str": job.status_str,
            "completed": job.status_str == "success",
            "messages": job.messages,
        }
    obj["workflow"] = {"prompt": job.prompt, "extra_data": job.extra_data}
    return web.json_response(obj)


async def cancel_job(app: web.Application, job_id: str) -> bool:
    cancelled = await asyncio.to_thread(app[STORE].cancel, job_id)
    if cancelled.outcome is not CancelOutcome.CANCELLED or cancelled.was is None:
        return False
    if cancelled.was is JobState.IN_PROGRESS:
        return await app[DISPATCHER].cancel(job_id)  # False: it ended on its own as the cancel travelled
    if cancelled.was is not JobState.PENDING:
        return False
    await announce(app[STORE], app[HUB])
    return True


@routes.post("/api/jobs/{job_id}/cancel")
async def post_cancel(request: web.Request) -> web.Response:
    return web.json_response({"cancelled": await cancel_job(request.app, request.match_info["job_id"])})


@routes.post("/api/jobs/cancel")
async def post_cancel_many(request: web.Request) -> web.Response:
    try:
        body = await read_json(request)
    except Exception:
        raise error(400, "Request body must be valid JSON") from None
    ids = body.get("job_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        raise error(400, "job_ids must be a list")
    invalid = [i if isinstance(i, str) else repr(i) for i in ids if not is_canonical_uuid(i)]
    if invalid:
        raise error(400, "job_ids contains invalid id(s)", invalid_ids=invalid)
    results = [await cancel_job(request.app, job_id) for job_id in ids]
    return web.json_response({"cancelled": any(results)})
