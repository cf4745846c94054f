"""Server-side repeats over HTTP (http-api.md §7.10): start, list, read, change and stop."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from impasto.graph.seeds import SeedSpecError
from impasto.protocol.prompt import is_canonical_uuid
from impasto.queue import LIVE_REPEAT_STATES, AnswerExistsError, AnswerFor, JobState, RepeatConflict, RepeatRecord
from impasto.server.errors import ApiError, extension_error, read_json
from impasto.server.idempotency import Ticket
from impasto.server.keys import CATALOG, DISPATCHER, HUB, IDEMPOTENCY, REPEATS, STORE
from impasto.server.repeats import RepeatOptions, check_seed_spec
from impasto.server.routes.prompt import extra_data_of, validate_body_prompt
from impasto.server.routing import add_routes
from impasto.server.status import announce

routes = web.RouteTableDef()
_FLAGS = ("stop_on_error", "skip_identical")


def setup(app: web.Application) -> None:
    add_routes(app, routes, api_alias=False)


def as_json(repeat: RepeatRecord, node_errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "repeat_id": repeat.id,
        "state": repeat.state.value,
        "runs": repeat.runs,
        "max_runs": repeat.max_runs,
        "current_job": repeat.current_job,
        "last_job": repeat.last_job,
        "stop_reason": repeat.stop_reason,
        "created_at": repeat.created_ms,
        "stop_on_error": repeat.spec.get("stop_on_error"),
        "skip_identical": repeat.spec.get("skip_identical"),
    }
    if node_errors is not None:
        body["node_errors"] = node_errors
    return body


async def _options(request: web.Request, body: dict[str, Any], *, partial: bool) -> tuple[RepeatOptions, Any]:
    """The settings a request body gives (a PATCH may give any subset), validated; and the node errors."""
    for flag in _FLAGS:
        if flag in body and not isinstance(body[flag], bool):
            raise extension_error(400, "invalid_request_body", f"{flag} must be true or false")
    max_runs = body.get("max_runs")
    if max_runs is not None and (isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1):
        raise extension_error(400, "invalid_request_body", "max_runs must be a positive integer or null")
    extra = body.get("extra_data")
    if extra is not None and not isinstance(extra, dict):
        raise extension_error(400, "invalid_request_body", "extra_data must be an object")
    if not partial and "prompt" not in body:
        raise extension_error(400, "invalid_request_body", "the body must be an object with a prompt")
    prompt = outputs = targets = None
    node_errors: Any = {}
    if "prompt" in body:
        validation = await validate_body_prompt(request.app, body)
        prompt, outputs, node_errors = dict(validation.prompt), validation.outputs, validation.node_errors
        targets = body.get("partial_execution_targets")
    seed = body.get("seed")
    if prompt is not None:
        try:
            check_seed_spec(seed, prompt, request.app[CATALOG].defs)
        except SeedSpecError as exc:
            raise extension_error(400, "invalid_seed_spec", str(exc)) from exc
    options = RepeatOptions(
        prompt=prompt,
        outputs=outputs,
        targets=targets,
        extra_data=extra,
        seed=seed,
        max_runs=max_runs,
        stop_on_error=body.get("stop_on_error"),
        skip_identical=body.get("skip_identical"),
    )
    return options, node_errors


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise extension_error(400, "invalid_request_body", "the body must be a JSON object")
    return body


@routes.post("/api/impasto/repeats")
async def create_repeat(request: web.Request) -> web.Response:
    return await request.app[IDEMPOTENCY].run(request, lambda ticket: _create(request, ticket))


async def _create(request: web.Request, ticket: Ticket | None) -> web.Response:
    body = await _body(request)
    options, node_errors = await _options(request, body, partial=False)
    extra_data, sensitive = extra_data_of(body, request)
    extra_data.pop("create_time", None)  # each run gets its own
    client_id = extra_data.pop("client_id", None)
    options = RepeatOptions(**{**_fields(options), "extra_data": extra_data})

    def answer(repeat: RepeatRecord) -> AnswerFor | None:
        return None if ticket is None else ticket.answer(201, lambda _jobs: as_json(repeat, node_errors))

    try:
        repeat = await request.app[REPEATS].create(options, client_id, sensitive, answer)
    except AnswerExistsError:
        raise extension_error(409, "idempotency_key_in_progress", "another request took this key") from None
    return web.json_response(as_json(repeat, node_errors), status=201)


def _fields(options: RepeatOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in RepeatOptions.__slots__}


@routes.get("/api/impasto/repeats")
async def list_repeats(request: web.Request) -> web.Response:
    repeats = await asyncio.to_thread(request.app[STORE].list_repeats)
    return web.json_response({"repeats": [as_json(r) for r in repeats]})


async def _repeat(request: web.Request) -> RepeatRecord:
    repeat_id = request.match_info["repeat_id"]
    if not is_canonical_uuid(repeat_id):
        raise extension_error(400, "invalid_request_body", "a repeat id is a canonical UUID", repeat_id)
    repeat = await asyncio.to_thread(request.app[STORE].get_repeat, repeat_id)
    if repeat is None:
        raise extension_error(404, "repeat_not_found", "repeat not found", repeat_id)
    return repeat


@routes.get("/api/impasto/repeats/{repeat_id}")
async def get_repeat(request: web.Request) -> web.Response:
    return web.json_response(as_json(await _repeat(request)))


def _not_active(repeat: RepeatRecord) -> ApiError:
    return extension_error(409, "repeat_not_active", f"the repeat is {repeat.state.value}", repeat.id)


@routes.patch("/api/impasto/repeats/{repeat_id}")
async def patch_repeat(request: web.Request) -> web.Response:
    body = await _body(request)
    repeat = await _repeat(request)
    if repeat.state not in LIVE_REPEAT_STATES:
        raise _not_active(repeat)
    options, node_errors = await _options(request, body, partial=True)
    if options.seed is not None and options.prompt is None:
        try:
            check_seed_spec(options.seed, repeat.spec["prompt"], request.app[CATALOG].defs)
        except SeedSpecError as exc:
            raise extension_error(400, "invalid_seed_spec", str(exc)) from exc
    for _ in range(5):  # a run that ends meanwhile changes the repeat: apply to the new state
        try:
            changed = await request.app[REPEATS].update(repeat, options)
            return web.json_response(as_json(changed, node_errors))
        except RepeatConflict:
            repeat = await _repeat(request)
            if repeat.state not in LIVE_REPEAT_STATES:
                raise _not_active(repeat) from None
    raise extension_error(409, "repeat_not_active", "the repeat keeps changing; try again", repeat.id)


@routes.delete("/api/impasto/repeats/{repeat_id}")
async def delete_repeat(request: web.Request) -> web.Response:
    app = request.app
    cancel_current = request.query.get("cancel_current", "false").lower() in ("1", "true", "yes")
    repeat = await _repeat(request)
    for _ in range(5):
        if repeat.state not in LIVE_REPEAT_STATES:
            return web.json_response(as_json(repeat))  # already ended: stopping it again changes nothing
        try:
            stopped = await app[REPEATS].end(repeat, "user")
            break
        except RepeatConflict:
            repeat = await _repeat(request)
    else:
        raise extension_error(409, "repeat_not_active", "the repeat keeps changing; try again", repeat.id)
    if cancel_current and stopped.current_job is not None:
        cancelled = await asyncio.to_thread(app[STORE].cancel, stopped.current_job)
        if cancelled.was is JobState.IN_PROGRESS:
            app[DISPATCHER].interrupt(stopped.current_job)
    await announce(app[STORE], app[HUB])  # a repeat stopping is a queue-state change
    return web.json_response(as_json(stopped))
