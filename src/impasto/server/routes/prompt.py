"""GET and POST /prompt: the queue count, and validating and queueing a prompt (http-api.md §3.1-3.2)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiohttp import web

from impasto.graph.catalog import NodeDef
from impasto.graph.validate import ValidationResult, validate_prompt
from impasto.protocol.errors import ErrorInfo, NodeErrorType, PromptErrorType, error_info
from impasto.protocol.prompt import plain_number
from impasto.protocol.workflow import workflow_id_of
from impasto.queue import AnswerExistsError, DuplicateJobError, Job, NewJob, QueueFullError
from impasto.server import json_body
from impasto.server.errors import ApiError, extension_error
from impasto.server.idempotency import Ticket
from impasto.server.keys import CATALOG, DISPATCHER, IDEMPOTENCY, NODE_HOST, SETTINGS, STORE
from impasto.server.routing import add_routes
from impasto.server.store_calls import short_call
from impasto.workers.nodehost import NodeDefinitions, NodeHostUnavailable

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

SENSITIVE_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
_STALE_LIST_ERRORS = {NodeErrorType.VALUE_NOT_IN_LIST.value}


def setup(app: web.Application) -> None:
    add_routes(app, routes)


def rejected(status: int, error: ErrorInfo, node_errors: dict[str, Any] | None = None) -> ApiError:
    return ApiError(status, {"error": error, "node_errors": node_errors or {}})


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    store = request.app[STORE]
    pending, running = await short_call(store, store.counts)
    return web.json_response({"exec_info": {"queue_remaining": pending + running}})


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    app = request.app
    store = app[STORE]
    try:
        body, plain = json_body.parse(await request.read(), request.charset)
    except (ValueError, UnicodeDecodeError) as exc:
        raise rejected(
            400, error_info(PromptErrorType.INVALID_REQUEST_BODY, "Request body is not JSON", str(exc))
        ) from exc
    if not isinstance(body, dict):
        raise rejected(400, error_info(PromptErrorType.INVALID_REQUEST_BODY, "Request body must be a JSON object", ""))
    number = _number(body) if "number" in body else None
    front = bool(body.get("front"))

    async def create(ticket: Ticket | None) -> web.Response:
        try:
            return await _queue(request, body, number, front, ticket, plain=plain)
        except ApiError:
            if number is None:
                # ComfyUI takes the counter before validation, so a rejected prompt uses a number too. An
                # accepted one takes it together with its insert (one store call less on the hot path).
                await short_call(store, store.next_number)
            raise

    return await app[IDEMPOTENCY].run(request, create)


async def _queue(
    request: web.Request,
    body: dict[str, Any],
    number: float | None,
    front: bool,
    ticket: Ticket | None,
    *,
    plain: bool = False,
) -> web.Response:
    """Validate and queue the body's prompt (`plain`: orjson read the body, see `json_body.parse`)."""
    app = request.app
    if "prompt" not in body:
        raise rejected(400, error_info(PromptErrorType.NO_PROMPT, "No prompt provided", "No prompt provided"))
    prompt_id = _prompt_id(body.get("prompt_id"))
    policy = body.get("node_failure_policy", "fail_fast")
    if policy not in (None, "fail_fast"):
        raise rejected(
            400,
            error_info(
                PromptErrorType.INVALID_NODE_FAILURE_POLICY,
                "Only the fail_fast node failure policy is supported",
                str(policy),
            ),
        )
    validation = await validate_body_prompt(app, body)
    extra_data, sensitive = extra_data_of(body, request)
    limit = app[SETTINGS].max_queue_size
    dispatcher = app[DISPATCHER]
    # Held in memory before the job exists, so a worker never starts it without them. An id already held
    # belongs to a pending or running duplicate, which this request must not touch.
    holds = bool(sensitive) and prompt_id not in dispatcher.sensitive
    if holds:
        dispatcher.sensitive[prompt_id] = sensitive

    def answer_body(jobs: Sequence[Job]) -> dict[str, Any]:
        return {"prompt_id": prompt_id, "number": plain_number(jobs[0].number), "node_errors": validation.node_errors}

    answer = None if ticket is None else ticket.answer(200, answer_body)
    try:
        # One store call: the queue-size check, the number, the insert, and the claim when a worker is free.
        # extra_data is the body's own plus plain strings and an int: orjson writes it back exactly.
        extra_json = orjson.dumps(extra_data).decode() if plain else None
        new = new_job(prompt_id, number, validation, extra_data, extra_json)
        job = await dispatcher.enqueue(new, front=front, max_pending=limit, answer=answer)
    except AnswerExistsError:
        raise extension_error(409, "idempotency_key_in_progress", "another request took this key") from None
    except DuplicateJobError:
        if holds:
            dispatcher.sensitive.pop(prompt_id, None)
        raise rejected(
            409,
            error_info(
                PromptErrorType.DUPLICATE_PROMPT_ID,
                "prompt_id is already pending or running",
                prompt_id,
                prompt_id=prompt_id,
            ),
        ) from None
    except QueueFullError:
        if holds:
            dispatcher.sensitive.pop(prompt_id, None)
        raise rejected(429, error_info(PromptErrorType.QUEUE_FULL, "The queue is full", str(limit))) from None
    return web.json_response(answer_body([job]))


def new_job(
    prompt_id: str,
    number: float | None,
    validation: ValidationResult,
    extra_data: dict[str, Any],
    extra_data_json: str | None = None,
) -> NewJob:
    """The job a validated submission becomes (`number` None: the store takes the next one)."""
    return NewJob(
        id=prompt_id,
        number=number,
        prompt=dict(validation.prompt),
        extra_data=extra_data,
        outputs_to_execute=validation.outputs,
        client_id=extra_data.get("client_id"),
        created_ms=extra_data["create_time"],
        workflow_id=workflow_id_of(extra_data),
        extra_data_json=extra_data_json,
    )


async def validate_body_prompt(app: web.Application, body: dict[str, Any]) -> ValidationResult:
    """Validate a request's `prompt` (with its `partial_execution_targets`); a 400 envelope when it fails."""
    targets = body.get("partial_execution_targets")
    if targets is not None and not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        raise rejected(
            400,
            error_info(
                PromptErrorType.INVALID_REQUEST_BODY, "partial_execution_targets must be a list of node ids", ""
            ),
        )
    validation = await _validate(app, body["prompt"], targets)
    if validation.error is not None:
        raise rejected(400, validation.error, dict(validation.node_errors))
    return validation


async def _validate(app: web.Application, prompt: Any, targets: list[str] | None) -> ValidationResult:
    catalog = app[CATALOG]
    host = app[NODE_HOST]
    if not catalog.ready.is_set():
        await _refresh(app)
    try:
        result = await _run_validation(prompt, catalog.defs, host, targets)
        if _maybe_stale(result):
            await _refresh(app)
            result = await _run_validation(prompt, catalog.defs, host, targets)
    except NodeHostUnavailable as exc:
        raise ApiError(503, {"error": f"node definitions are unavailable: {exc}"}) from exc
    return result


INLINE_NODES = 300  # a prompt this small without VALIDATE_INPUTS validates in well under a millisecond


async def _run_validation(
    prompt: Any, defs: Mapping[str, NodeDef], host: NodeDefinitions, targets: list[str] | None
) -> ValidationResult:
    """Validate on the loop when it is pure CPU work on a small prompt; in a thread when node code is asked."""
    if _needs_no_node_code(prompt, defs):
        return validate_prompt(prompt, defs, host.validate, targets)
    return await asyncio.to_thread(validate_prompt, prompt, defs, host.validate, targets)


def _needs_no_node_code(prompt: Any, defs: Mapping[str, NodeDef]) -> bool:
    if not isinstance(prompt, dict) or len(prompt) > INLINE_NODES:
        return False
    for node in prompt.values():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        node_def = defs.get(class_type) if isinstance(class_type, str) else None
        if node_def is None or node_def.validate is not None:
            return False
    return True


async def _refresh(app: web.Application) -> None:
    try:
        await app[CATALOG].refresh()
    except NodeHostUnavailable as exc:
        raise ApiError(503, {"error": f"node definitions are unavailable: {exc}"}) from exc


def _maybe_stale(result: ValidationResult) -> bool:
    """A result that a newer catalog could change: an unknown class, or a value missing from a combo list."""
    if result.error is not None and result.error["type"] == PromptErrorType.MISSING_NODE_TYPE.value:
        return True
    return any(e["type"] in _STALE_LIST_ERRORS for entry in result.node_errors.values() for e in entry["errors"])


def _number(body: dict[str, Any]) -> float | None:
    value: Any = body.get("number")
    try:
        number = float(value)  # ComfyUI: float(number); numeric strings pass
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise rejected(
            400, error_info(PromptErrorType.INVALID_REQUEST_BODY, "number must be a finite number", repr(value))
        )
    return number


def _prompt_id(value: Any) -> str:
    if value is None:
        return str(uuid.uuid4())
    problem = "prompt_id must be a string" if not isinstance(value, str) else None
    if problem is None:
        try:
            if str(uuid.UUID(value)) != value:
                problem = "prompt_id must be a canonical lowercase hyphenated UUID"
        except ValueError:
            problem = "prompt_id is not a UUID"
    if problem is not None:
        raise rejected(400, error_info(PromptErrorType.INVALID_PROMPT_ID, "prompt_id must be a valid UUID", problem))
    return str(value)


def extra_data_of(body: dict[str, Any], request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    raw = body.get("extra_data")
    # The body was parsed for this request alone, so its values are not shared: a shallow copy is enough
    # for the keys changed here (a workflow in extra_pnginfo can be large).
    extra: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    client_id = body.get("client_id")
    if isinstance(client_id, str) and client_id:
        extra["client_id"] = client_id
    extra["create_time"] = int(time.time() * 1000)
    if "comfy_usage_source" not in extra and "Comfy-Usage-Source" in request.headers:
        extra["comfy_usage_source"] = request.headers["Comfy-Usage-Source"]
    sensitive = {key: str(extra.pop(key)) for key in SENSITIVE_KEYS if key in extra}
    return extra, sensitive
