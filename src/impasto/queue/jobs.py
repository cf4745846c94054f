"""Job records and states of the queue store (execution.md §4 and §11, http-api.md §4).

Both stores build these records; the few rules they must apply identically (which states a Jobs API status
covers, the messages of an orphaned job, where a requeued orphan goes) live here as plain functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from impasto.protocol.events import EventType

JsonObject = dict[str, Any]
Message = list[Any]  # one history status message: [event_name, data]


class JobState(StrEnum):
    """Where a job is in its life; the value is what the SQLite store writes to `jobs.state`."""

    PENDING = "pending"  # queued, not claimed (also while the queue is paused)
    IN_PROGRESS = "in_progress"  # claimed by a worker: running, or being stopped after a cancel request
    COMPLETED = "completed"  # finished: history status_str "success"
    FAILED = "failed"  # finished: history "error" without an execution_interrupted message
    CANCELLED = "cancelled"  # a user's cancel stopped it while running: history "error" + execution_interrupted
    INTERRUPTED = "interrupted"  # it was running when the server or its worker died: "error" + execution_interrupted
    REMOVED = "removed"  # deleted while pending: a tombstone, never in history or job lists; answers a typed cancel


HISTORY_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED})
ACTIVE_STATES = frozenset({JobState.PENDING, JobState.IN_PROGRESS})
TERMINAL_STATES = HISTORY_STATES | {JobState.REMOVED}  # what `JobStore.finish` accepts

# Jobs API `status` name -> the states it covers (http-api.md §4). REMOVED is in none: removed jobs vanish.
JOBS_API_STATES: Mapping[str, frozenset[JobState]] = {
    "pending": frozenset({JobState.PENDING}),
    "in_progress": frozenset({JobState.IN_PROGRESS}),
    "completed": frozenset({JobState.COMPLETED}),
    "failed": frozenset({JobState.FAILED}),
    "cancelled": frozenset({JobState.CANCELLED, JobState.INTERRUPTED}),
}
SORT_KEYS = ("created_at", "execution_duration")  # `sort_by` values of `JobStore.list_jobs`
SERVER_RESTARTED = "server_restarted"  # stop_reason of a job that was running when the server died
REMOVED_REASON = "removed"  # stop_reason of a pending job that was cancelled or deleted


def status_name(state: JobState) -> str:
    """The Jobs API status of a state, with a removed pending job shown as `cancelled` (impasto's answers)."""
    return jobs_api_status(state) or "cancelled"


def jobs_api_status(state: JobState) -> str | None:
    """The Jobs API status name of a state; None for REMOVED, which the Jobs API never shows."""
    for name, states in JOBS_API_STATES.items():
        if state in states:
            return name
    return None


def states_for(statuses: Collection[str]) -> frozenset[JobState]:
    """The states that the given Jobs API status names cover; ValueError names every unknown one."""
    unknown = sorted(s for s in statuses if s not in JOBS_API_STATES)
    if unknown:
        raise ValueError(f"unknown job status(es): {', '.join(unknown)}")
    return frozenset(state for name in statuses for state in JOBS_API_STATES[name])


def checked_result(result: JobResult) -> JobResult:
    """`result` as `finish` records it: a terminal state (ValueError otherwise); REMOVED gets its stop reason."""
    if result.state not in TERMINAL_STATES:
        raise ValueError(f"finish needs a terminal state, got {result.state}")
    if result.state is JobState.REMOVED and result.stop_reason is None:
        return replace(result, stop_reason=REMOVED_REASON)
    return result


def check_page(offset: int, limit: int | None) -> None:
    """Paging arguments are validated by the caller; a negative one here is a bug, not request data."""
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError(f"offset and limit must not be negative (offset={offset}, limit={limit})")


@dataclass(frozen=True, slots=True)
class NewJob:
    """A validated job as the server submits it.

    `extra_data` is stored exactly as given: removing the sensitive keys (`auth_token_comfy_org`,
    `api_key_comfy_org`) is the caller's job, before `add`. A `number` of None takes the store's next
    priority number when the job is added (see `JobStore.add`).
    """

    id: str
    number: float | None
    prompt: JsonObject
    extra_data: JsonObject
    outputs_to_execute: list[str]
    client_id: str | None
    created_ms: int
    workflow_id: str | None = None
    # `extra_data` as JSON text, when the caller has it and it reads back as `extra_data` exactly: the store
    # writes it instead of encoding `extra_data` again (a frontend submission's UI workflow is tens of KB).
    extra_data_json: str | None = None

    def texts(self, dump: Callable[[Any], str]) -> tuple[str, str, str]:
        """The prompt, extra_data and outputs_to_execute as the JSON text a store keeps, encoded by `dump`."""
        extra_data = self.extra_data_json if self.extra_data_json is not None else dump(self.extra_data)
        return dump(self.prompt), extra_data, dump(self.outputs_to_execute)


@dataclass(frozen=True, slots=True)
class Job:
    """One stored row: a queued, running or finished job, or a REMOVED tombstone."""

    id: str
    number: float
    seq: int  # submission order; ties in `number` run in seq order
    state: JobState
    prompt: JsonObject
    extra_data: JsonObject
    outputs_to_execute: list[str]
    client_id: str | None
    created_ms: int
    started_ms: int | None
    ended_ms: int | None
    worker_id: str | None
    cancel_requested: bool
    stop_reason: str | None
    outputs: JsonObject  # history outputs {node_id: ui}
    meta: JsonObject  # history meta {node_id: {...}}
    messages: list[Message]  # history status messages
    status_str: str | None  # "success" or "error" once finished
    workflow_id: str | None
    version: int  # increments on every change of the row
    finished_seq: int | None  # order of completion; re-finishing an id gets a new one; None unless in history


def pending_record(job: NewJob, seq: int, number: float) -> Job:
    """The record of a job just added from `job` as `seq` with `number`: pending, version 1, no results yet.
    It shares the NewJob's prompt, extra_data and outputs_to_execute (records are read-only)."""
    return Job(
        id=job.id,
        number=number,
        seq=seq,
        state=JobState.PENDING,
        prompt=job.prompt,
        extra_data=job.extra_data,
        outputs_to_execute=job.outputs_to_execute,
        client_id=job.client_id,
        created_ms=job.created_ms,
        started_ms=None,
        ended_ms=None,
        worker_id=None,
        cancel_requested=False,
        stop_reason=None,
        outputs={},
        meta={},
        messages=[],
        status_str=None,
        workflow_id=job.workflow_id,
        version=1,
        finished_seq=None,
    )


@dataclass(frozen=True, slots=True)
class JobSummary:
    """A job without its prompt, extra_data, meta and outputs_to_execute, for fast lists."""

    id: str
    number: float
    seq: int
    state: JobState
    client_id: str | None
    created_ms: int
    started_ms: int | None
    ended_ms: int | None
    worker_id: str | None
    cancel_requested: bool
    stop_reason: str | None
    outputs: JsonObject
    messages: list[Message]
    status_str: str | None
    workflow_id: str | None
    version: int
    finished_seq: int | None
    error: JsonObject | None  # data of the execution_error message, if any
    interrupted: bool  # an execution_interrupted message is present


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One `GET /queue` item as raw JSON text, so the server can splice it without parsing the prompt."""

    number: float
    id: str
    prompt_json: str
    extra_data_json: str
    outputs_json: str  # outputs_to_execute


@dataclass(frozen=True, slots=True)
class JobResult:
    """How a running job ended; the argument of `JobStore.finish`."""

    state: JobState  # one of TERMINAL_STATES
    outputs: JsonObject
    meta: JsonObject
    messages: list[Message]
    status_str: str | None
    ended_ms: int
    stop_reason: str | None = None
    # A completed run that executed nothing and repeated this job of its client exactly: it joins that job's
    # fold group (execution.md §8.5) instead of adding an entry to the Jobs API lists. It names the client's last
    # successful job, which is its group's newest member (a store may rely on that and read no other member).
    fold_into: str | None = None


FOLD_GROUP_MAX = 100  # members a fold group keeps; older ones are deleted


class CancelOutcome(StrEnum):
    """Answer of `JobStore.cancel`."""

    CANCELLED = "cancelled"  # pending job removed, running job asked to stop, or removed earlier
    NOT_RUNNING = "not_running"  # never returned by `cancel`; kept for the server's `scope: running` answer
    ALREADY_FINISHED = "already_finished"  # completed, failed, cancelled or interrupted before the call
    UNKNOWN = "unknown"  # no row with that id


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What `cancel` did: the outcome, the job as it is now (None when unknown), its state before the call."""

    outcome: CancelOutcome
    job: Job | None
    was: JobState | None


class DuplicateJobError(Exception):
    """`add` of an id that is pending or in progress."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


def given_number(job: NewJob) -> float:
    """The explicit number of a job added where no number is taken for it (a batch takes its own)."""
    if job.number is None:
        raise ValueError(f"job {job.id} needs an explicit number here")
    return job.number


class QueueFullError(Exception):
    """`add` with `max_pending` when that many jobs are already pending."""

    def __init__(self, max_pending: int) -> None:
        super().__init__(max_pending)
        self.max_pending = max_pending


def summarize(job: Job) -> JobSummary:
    """The list form of a job."""
    return JobSummary(
        id=job.id,
        number=job.number,
        seq=job.seq,
        state=job.state,
        client_id=job.client_id,
        created_ms=job.created_ms,
        started_ms=job.started_ms,
        ended_ms=job.ended_ms,
        worker_id=job.worker_id,
        cancel_requested=job.cancel_requested,
        stop_reason=job.stop_reason,
        outputs=job.outputs,
        messages=job.messages,
        status_str=job.status_str,
        workflow_id=job.workflow_id,
        version=job.version,
        finished_seq=job.finished_seq,
        error=message_data(job.messages, EventType.EXECUTION_ERROR),
        interrupted=message_data(job.messages, EventType.EXECUTION_INTERRUPTED) is not None,
    )


def message_data(messages: list[Message], event: EventType) -> JsonObject | None:
    """The data of the first `event` message, or None."""
    for message in messages:
        if len(message) == 2 and message[0] == event and isinstance(message[1], dict):
            return message[1]
    return None


def orphan_messages(job_id: str, started_ms: int | None, now_ms: int) -> list[Message]:
    """History messages of a job that was running when the server died (the node it was on is not stored)."""
    return [
        [EventType.EXECUTION_START.value, {"prompt_id": job_id, "timestamp": started_ms}],
        [
            EventType.EXECUTION_INTERRUPTED.value,
            {"prompt_id": job_id, "node_id": None, "node_type": None, "executed": [], "timestamp": now_ms},
        ],
    ]


def front_numbers(numbers: list[float], lowest_pending: float | None) -> list[float]:
    """Numbers for requeued orphans (given in run order) that put them ahead of every pending job.

    They keep their numbers when those already sort first; otherwise they take consecutive numbers just
    below the lowest pending one, keeping their order among themselves.
    """
    if lowest_pending is None or all(n < lowest_pending for n in numbers):
        return list(numbers)
    count = len(numbers)
    return [lowest_pending - count + i for i in range(count)]


def settle_orphans(
    orphans: list[Job], *, requeue: bool, lowest_pending: float | None, now_ms: int
) -> list[float | JobResult]:
    """For each orphan (given in run order): the number it is requeued with, or the result it finishes with.

    Requeued orphans go ahead of every pending job; one whose cancel was requested is never re-run.
    """
    back = [job for job in orphans if requeue and not job.cancel_requested]
    numbers = dict(zip((j.seq for j in back), front_numbers([j.number for j in back], lowest_pending), strict=True))
    plans: list[float | JobResult] = []
    for job in orphans:
        if job.seq in numbers:
            plans.append(numbers[job.seq])
        else:
            messages = orphan_messages(job.id, job.started_ms, now_ms)
            plans.append(JobResult(JobState.INTERRUPTED, {}, {}, messages, "error", now_ms, SERVER_RESTARTED))
    return plans


class MoveOutcome(StrEnum):
    """Result of `JobStore.move`."""

    MOVED = "moved"  # the job is now where it was asked to be (possibly where it already was)
    JOB_NOT_FOUND = "job_not_found"  # no job with that id
    JOB_NOT_PENDING = "job_not_pending"  # the job is running, finished or removed
    ANCHOR_NOT_FOUND = "anchor_not_found"  # `before` names no job
    ANCHOR_NOT_PENDING = "anchor_not_pending"  # `before` names a job that is not pending


@dataclass(frozen=True, slots=True)
class Moved:
    outcome: MoveOutcome
    number: float | None = None
    position: int | None = None  # 1-based place in run order


def plan_move(
    order: list[tuple[str, float]], job_id: str, *, to: str | None, before: str | None
) -> tuple[dict[str, float], int]:
    """New numbers for a move of a pending job (only the ones that change), and its 1-based position.

    `order` is every pending job in run order. Front: smallest number - 1; back: largest + 1; before X:
    the midpoint between X and the job ahead of it (X - 1 when X is first). When equal numbers leave no
    room between them, the whole pending queue is renumbered 1, 2, 3, ... above its smallest number.
    """
    ids = [i for i, _ in order]
    numbers = dict(order)
    rest = [i for i in ids if i != job_id]
    if to == "front":
        target = 0
    elif to == "back":
        target = len(rest)
    else:
        assert before is not None
        target = rest.index(before)
    wanted = [*rest[:target], job_id, *rest[target:]]
    if wanted == ids:
        return {}, target + 1
    ahead = numbers[wanted[target - 1]] if target > 0 else None
    behind = numbers[wanted[target + 1]] if target + 1 < len(wanted) else None
    if ahead is None:
        candidate = (behind if behind is not None else numbers[job_id]) - 1
    elif behind is None:
        candidate = ahead + 1
    else:
        candidate = (ahead + behind) / 2
    if (ahead is None or candidate > ahead) and (behind is None or candidate < behind):
        return {job_id: candidate}, target + 1
    base = math.floor(min(numbers.values()))
    return {i: float(base + n) for n, i in enumerate(wanted)}, target + 1


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A server-side batch: the runs asked for and the jobs queued for them, in item order."""

    id: str
    requested: int
    job_ids: tuple[str, ...]
    created_ms: int
