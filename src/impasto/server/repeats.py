"""Server-side repeats (http-api.md §7.10): a workflow that queues its next run when its current one ends.

The store keeps each repeat and swaps its current job atomically (`JobStore.update_repeat`); this service
decides the next run. It watches every queue change: when the current job of a live repeat has ended
(completed, failed, cancelled, removed, or interrupted by a server restart), it queues the next run with the
next seed values, goes idle (the next run would repeat the last completed one exactly), or ends the repeat.
Nothing here depends on a browser: repeats go on with every tab closed and after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from impasto.graph.catalog import NodeDef
from impasto.graph.seeds import SeedSpecError, item_values, parse_targets
from impasto.graph.validate import validate_prompt
from impasto.protocol.workflow import show_item_values, workflow_id_of
from impasto.queue import AnswerFor, Job, JobState, JobStore, NewJob, RepeatConflict, RepeatRecord, RepeatState
from impasto.server.catalog import Catalog
from impasto.server.dispatch import Dispatcher
from impasto.server.hub import Hub
from impasto.server.status import announce
from impasto.workers.nodehost import NodeDefinitions

log = logging.getLogger(__name__)

_ENDED = {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED, JobState.REMOVED}


def digest(prompt: Mapping[str, Any]) -> str:
    """What "identical prompt" compares: the prompt's canonical JSON."""
    return hashlib.sha256(json.dumps(prompt, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RepeatOptions:
    """What a request sets; `None` fields (in a PATCH) leave the repeat's value."""

    prompt: dict[str, Any] | None = None
    outputs: list[str] | None = None
    targets: list[str] | None = None
    extra_data: dict[str, Any] | None = None
    seed: Any = None
    max_runs: int | None = None
    stop_on_error: bool | None = None
    skip_identical: bool | None = None


def check_seed_spec(seed: Any, prompt: Mapping[str, Any], defs: Mapping[str, NodeDef]) -> None:
    """Raise `SeedSpecError` for a seed spec a repeat cannot use (a repeat has no item count for a sweep)."""
    targets, _before = parse_targets(seed, prompt, defs, 1)
    if any(t.values is not None for t in targets):
        raise SeedSpecError("a repeat takes modes, not lists of values")


def next_values(spec: Mapping[str, Any], prompt: Mapping[str, Any], defs: Mapping[str, NodeDef]) -> dict[str, Any]:
    """The prompt with its seed targets moved on by one run."""
    targets, _before = parse_targets(spec["seed"], prompt, defs, 1)
    values = item_values(targets, prompt, defs, 1, before=True, rng=random.Random())[0]
    moved = copy.deepcopy(dict(prompt))
    for key, value in values.items():
        node_id, name = key.rsplit(".", 1)
        moved[node_id]["inputs"][name] = value
    return moved


class Repeats:
    def __init__(
        self,
        store: JobStore,
        dispatcher: Dispatcher,
        hub: Hub,
        catalog: Catalog,
        host: NodeDefinitions,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.hub = hub
        self.catalog = catalog
        self.host = host
        self._current: dict[str, str] = {}  # current job id -> repeat id, for live repeats
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        hub.queue_changed.append(self._queue_changed)

    # lifecycle
    async def start(self) -> None:
        for repeat in await asyncio.to_thread(self.store.list_repeats):
            if repeat.state is RepeatState.ACTIVE and repeat.current_job is not None:
                self._current[repeat.current_job] = repeat.id
        self._task = asyncio.create_task(self._watch())
        self._dirty.set()  # runs that ended while the server was down

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def repeat_of(self, job_id: str) -> str | None:
        return self._current.get(job_id)

    def _queue_changed(self) -> None:
        if self._current:
            self._dirty.set()

    async def _watch(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._advance_ended()
            except Exception:
                log.exception("could not advance the repeats")

    async def _advance_ended(self) -> None:
        current = dict(self._current)
        jobs = await asyncio.to_thread(lambda: {job_id: self.store.get(job_id) for job_id in current})
        for job_id, job in jobs.items():
            if job is None or job.state in _ENDED:
                await self._job_ended(current[job_id], job_id, job)

    # creating and changing
    async def create(
        self,
        options: RepeatOptions,
        client_id: str | None,
        sensitive: dict[str, str],
        answer: Callable[[RepeatRecord], AnswerFor | None] | None = None,
    ) -> RepeatRecord:
        """Store a new repeat and queue its first run; `answer` gives what to store with it (an idempotent
        request's answer)."""
        assert options.prompt is not None and options.outputs is not None
        spec = {
            "prompt": options.prompt,
            "outputs": options.outputs,
            "targets": options.targets,
            "extra_data": options.extra_data or {},
            "client_id": client_id,
            "seed": options.seed,
            "stop_on_error": True if options.stop_on_error is None else options.stop_on_error,
            "skip_identical": True if options.skip_identical is None else options.skip_identical,
            "last_completed": None,  # digest of the prompt of the last completed run
            "current_digest": None,  # digest of the prompt of the current run
            "fresh": False,  # `prompt` was replaced and has not run yet: the next run uses it as it is
        }
        seed = options.seed if isinstance(options.seed, dict) else {}
        first = options.prompt
        if seed.get("apply") == "before":
            first = next_values(spec, first, self.catalog.defs)
        spec["prompt"], spec["current_digest"] = first, digest(first)
        repeat = RepeatRecord(
            id=str(uuid.uuid4()),
            state=RepeatState.ACTIVE,
            created_ms=int(time.time() * 1000),
            runs=0,
            max_runs=options.max_runs,
            current_job=None,
            last_job=None,
            stop_reason=None,
            spec=spec,
        )
        job = self._job(spec, first, options.outputs)
        if sensitive:
            self.dispatcher.sensitive[job.id] = sensitive
        created = replace(repeat, current_job=job.id)
        stored_answer = None if answer is None else answer(created)
        await asyncio.to_thread(lambda: self.store.add_repeat(repeat, job, answer=stored_answer))
        self._current[job.id] = repeat.id
        await self._queued()
        return created

    async def update(self, repeat: RepeatRecord, options: RepeatOptions) -> RepeatRecord:
        """Replace what `options` sets for the next run; an idle repeat whose prompt changed runs again.

        Raises `RepeatConflict` when the repeat changed meanwhile (the caller reads it again)."""
        spec = dict(repeat.spec)
        for key in ("extra_data", "seed", "stop_on_error", "skip_identical"):
            value = getattr(options, key)
            if value is not None:
                spec[key] = value
        if options.prompt is not None:
            spec["prompt"], spec["outputs"], spec["targets"] = options.prompt, options.outputs, options.targets
            spec["fresh"] = True
        max_runs = repeat.max_runs if options.max_runs is None else options.max_runs
        job = None
        idle = repeat.state is RepeatState.IDLE
        if idle and options.prompt is not None and digest(options.prompt) != spec["last_completed"]:
            spec["fresh"], spec["current_digest"] = False, digest(options.prompt)
            job = self._job(spec, options.prompt, spec["outputs"])
        changed = replace(repeat, spec=spec, max_runs=max_runs)
        if job is not None:
            changed = replace(changed, state=RepeatState.ACTIVE)
        await asyncio.to_thread(self.store.update_repeat, changed, expected_job=repeat.current_job, job=job)
        if job is not None:
            self._current[job.id] = repeat.id
            await self._queued()
            changed = replace(changed, current_job=job.id)
        return changed

    async def end(self, repeat: RepeatRecord, reason: str) -> RepeatRecord:
        """Stop a live repeat (its current job is left alone). Raises `RepeatConflict` as `update` does."""
        stopped = replace(repeat, state=RepeatState.STOPPED, stop_reason=reason)
        await asyncio.to_thread(self.store.update_repeat, stopped, expected_job=repeat.current_job)
        if repeat.current_job is not None:
            self._current.pop(repeat.current_job, None)
        return stopped

    def forget(self, repeat_ids: list[str]) -> None:
        """Repeats the store stopped by itself (a cleared queue)."""
        stopped = set(repeat_ids)
        for job_id in [j for j, r in self._current.items() if r in stopped]:
            del self._current[job_id]

    # a run ended
    async def _job_ended(self, repeat_id: str, job_id: str, job: Job | None) -> None:
        self._current.pop(job_id, None)
        repeat = await asyncio.to_thread(self.store.get_repeat, repeat_id)
        if repeat is None or repeat.state is not RepeatState.ACTIVE or repeat.current_job != job_id:
            return
        state = JobState.REMOVED if job is None else job.state
        spec = dict(repeat.spec)
        runs = repeat.runs
        next_prompt: dict[str, Any] | None = None
        outcome = replace(repeat, last_job=job_id)
        if state is JobState.INTERRUPTED:  # the server stopped under it: the same run again
            next_prompt = spec["prompt"]
        elif state in (JobState.CANCELLED, JobState.REMOVED):
            outcome = _stopped(outcome, "job_cancelled")
        elif state is JobState.FAILED and spec["stop_on_error"]:
            runs += 1
            outcome = _stopped(replace(outcome, runs=runs), "job_failed")
        else:
            runs += 1
            if state is JobState.COMPLETED:
                spec["last_completed"] = spec["current_digest"]
            outcome = replace(outcome, runs=runs, spec=spec)
            if repeat.max_runs is not None and runs >= repeat.max_runs:
                outcome = replace(outcome, state=RepeatState.FINISHED, current_job=None)
            else:
                next_prompt = spec["prompt"] if spec["fresh"] else await self._next_prompt(spec)
                if next_prompt is None:
                    outcome = _stopped(outcome, "invalid_prompt")
                elif spec["skip_identical"] and digest(next_prompt) == spec["last_completed"]:
                    outcome, next_prompt = replace(outcome, state=RepeatState.IDLE, current_job=None), None
        job_next = None
        if next_prompt is not None:
            queued = {"prompt": next_prompt, "fresh": False, "current_digest": digest(next_prompt)}
            outcome = replace(outcome, spec={**outcome.spec, **queued})
            job_next = self._job(outcome.spec, next_prompt, spec["outputs"])
            sensitive = self.dispatcher.sensitive.get(job_id)
            if sensitive:
                self.dispatcher.sensitive[job_next.id] = sensitive
        try:
            await asyncio.to_thread(self.store.update_repeat, outcome, expected_job=job_id, job=job_next)
        except RepeatConflict:
            return  # stopped or changed meanwhile by a request: that one wins
        if job_next is not None:
            self._current[job_next.id] = repeat_id
            await self._queued()

    async def _next_prompt(self, spec: Mapping[str, Any]) -> dict[str, Any] | None:
        defs = self.catalog.defs
        try:
            prompt = next_values(spec, spec["prompt"], defs)
        except SeedSpecError as exc:
            log.warning("a repeat cannot move its seeds on: %s", exc)
            return None
        checked = await asyncio.to_thread(validate_prompt, prompt, defs, self.host.validate, spec["targets"])
        if checked.error is not None:
            log.warning("the next run of a repeat does not validate: %s", checked.error["message"])
            return None
        return prompt

    def _job(self, spec: Mapping[str, Any], prompt: dict[str, Any], outputs: list[str]) -> NewJob:
        extra = copy.deepcopy(dict(spec["extra_data"]))
        client_id = spec["client_id"]
        if client_id:
            extra["client_id"] = client_id
        extra["create_time"] = now = int(time.time() * 1000)
        try:
            targets, _before = parse_targets(spec["seed"], prompt, self.catalog.defs, 1)
        except SeedSpecError:
            targets = []
        show_item_values(extra, {f"{t.node_id}.{t.input}": prompt[t.node_id]["inputs"][t.input] for t in targets})
        return NewJob(
            id=str(uuid.uuid4()),
            number=None,
            prompt=prompt,
            extra_data=extra,
            outputs_to_execute=list(outputs),
            client_id=client_id,
            created_ms=now,
            workflow_id=workflow_id_of(extra),
        )

    async def _queued(self) -> None:
        await announce(self.store, self.hub)
        self.dispatcher.kick()


def _stopped(repeat: RepeatRecord, reason: str) -> RepeatRecord:
    return replace(repeat, state=RepeatState.STOPPED, stop_reason=reason, current_job=None)
