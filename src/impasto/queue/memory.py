"""`MemoryJobStore`: the `JobStore` contract in pure Python, nothing persisted (contract: `impasto.queue.store`).

Rows are `Job` records keyed by `seq`. JSON values are copied through a JSON round trip on the way in and on
the way out, so callers never share a dict with the store and see the same normalisation as with SQLite
(tuples become lists, keys become strings). The prompt, extra_data and outputs_to_execute of a row never
change, so their JSON text is kept from `add` on: it serves `queue_items` and every copy handed out. One lock
makes each method atomic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from impasto.queue.answers import AnswerFor, StoredAnswer
from impasto.queue.jobs import (
    ACTIVE_STATES,
    FOLD_GROUP_MAX,
    HISTORY_STATES,
    REMOVED_REASON,
    SORT_KEYS,
    BatchRecord,
    Cancelled,
    CancelOutcome,
    DuplicateJobError,
    Job,
    JobResult,
    JobState,
    JobSummary,
    Moved,
    MoveOutcome,
    NewJob,
    QueueFullError,
    QueueItem,
    check_page,
    checked_result,
    given_number,
    pending_record,
    plan_move,
    settle_orphans,
    states_for,
    summarize,
)
from impasto.queue.locking import store_lock, uncontended
from impasto.queue.repeats import (
    LIVE_REPEAT_STATES,
    RECENT_ENDED_REPEATS,
    RepeatConflict,
    RepeatRecord,
    RepeatState,
)
from impasto.queue.store import Chooser

T = TypeVar("T")


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _clone(value: T) -> T:
    copied: T = json.loads(_dump(value))
    return copied


def _own(repeat: RepeatRecord) -> RepeatRecord:
    """A copy whose spec shares nothing with the caller's."""
    return replace(repeat, spec=_clone(repeat.spec))


def _run_order(job: Job) -> tuple[float, int]:
    return job.number, job.seq


def _duration(job: Job) -> int:
    return 0 if job.started_ms is None or job.ended_ms is None else job.ended_ms - job.started_ms


_SORT: dict[str, Callable[[Job], Any]] = {
    "created_at": lambda job: (job.created_ms, job.seq),
    "execution_duration": lambda job: (_duration(job), job.seq),
}


def _page(items: list[T], offset: int, limit: int | None) -> list[T]:
    return items[offset:] if limit is None else items[offset : offset + limit]


class MemoryJobStore:
    """A `JobStore` held in this process only; `extra_data` is stored as given."""

    def __init__(self, *, history_max: int = 10_000) -> None:
        if history_max < 0:
            raise ValueError(f"history_max must not be negative, got {history_max}")
        self.history_max = history_max
        # Every method holds the lock for its whole body: that is this store's transaction.
        self._lock = store_lock()
        self._rows: dict[int, Job] = {}
        self._texts: dict[int, tuple[str, str, str]] = {}  # seq -> prompt, extra_data, outputs_to_execute JSON
        self._next_number = 0
        self._last_seq = 0
        self._last_finished_seq = 0
        self._paused = False
        self._batches: dict[str, BatchRecord] = {}
        self._repeats: dict[str, RepeatRecord] = {}
        self._answers: dict[str, StoredAnswer] = {}
        self._views = 0
        self._fold_group: dict[int, str] = {}  # seq -> its fold group (execution.md §8.5)
        self._folded: set[int] = set()  # members hidden behind a newer one of their group

    def _out(self, job: Job) -> Job:
        prompt, extra_data, outputs_to_execute = self._texts[job.seq]
        return replace(
            job,
            prompt=json.loads(prompt),
            extra_data=json.loads(extra_data),
            outputs_to_execute=json.loads(outputs_to_execute),
            outputs=_clone(job.outputs),
            meta=_clone(job.meta),
            messages=_clone(job.messages),
        )

    def _in_state(self, states: Collection[JobState]) -> list[Job]:
        return sorted((job for job in self._rows.values() if job.state in states), key=_run_order)

    def _newest(self, job_id: str) -> Job | None:
        rows = [job for job in self._rows.values() if job.id == job_id]
        return max(rows, key=lambda job: job.seq) if rows else None

    def _change(self, job: Job, **changes: Any) -> Job:
        changed = replace(job, version=job.version + 1, **changes)
        self._rows[job.seq] = changed
        return changed

    def _drop(self, jobs: Iterable[Job]) -> None:
        for job in list(jobs):
            del self._rows[job.seq]
            del self._texts[job.seq]
            self._fold_group.pop(job.seq, None)
            self._folded.discard(job.seq)

    def _drop_groups(self, listed: Iterable[Job]) -> None:
        """Drops the folded members of the groups whose listed entries `listed` are."""
        groups = {self._fold_group[job.seq] for job in listed if job.seq in self._fold_group}
        self._drop([j for j in self._rows.values() if j.seq in self._folded and self._fold_group[j.seq] in groups])

    def _prune(self) -> None:
        # A fold group counts once: only listed (unfolded) entries count, and pruning one takes its group.
        history = [j for j in self._history() if j.seq not in self._folded]
        tombstones = sorted((j for j in self._rows.values() if j.state is JobState.REMOVED), key=lambda j: j.seq)
        doomed = history[: max(0, len(history) - self.history_max)]
        self._drop_groups(doomed)
        self._drop(doomed)
        self._drop(tombstones[: max(0, len(tombstones) - self.history_max)])

    def _fold(self, done: Job, into: str) -> None:
        previous = [j for j in self._history() if j.id == into and j.seq != done.seq and j.state is JobState.COMPLETED]
        if not previous:
            return  # pruned or deleted meanwhile: an entry of its own
        root = previous[-1]
        group = self._fold_group.setdefault(root.seq, root.id)
        self._folded.update(seq for seq, g in self._fold_group.items() if g == group)
        self._fold_group[done.seq] = group
        members = [j for j in self._history() if self._fold_group.get(j.seq) == group]
        self._drop(members[: max(0, len(members) - FOLD_GROUP_MAX)])

    def _finish_row(self, job: Job, result: JobResult) -> Job:
        finished_seq = None
        if result.state in HISTORY_STATES:
            self._last_finished_seq += 1
            finished_seq = self._last_finished_seq
        done = self._change(
            job,
            state=result.state,
            outputs=_clone(result.outputs),
            meta=_clone(result.meta),
            messages=_clone(result.messages),
            status_str=result.status_str,
            ended_ms=result.ended_ms,
            stop_reason=result.stop_reason,
            finished_seq=finished_seq,
        )
        # Same replacement rule as the SQLite store: a history entry replaces the id's older entries and
        # tombstones, a tombstone only older tombstones.
        replaced = HISTORY_STATES | {JobState.REMOVED} if finished_seq is not None else {JobState.REMOVED}
        self._drop(j for j in self._rows.values() if j.id == job.id and j.seq != job.seq and j.state in replaced)
        if result.fold_into is not None and result.state is JobState.COMPLETED:
            self._fold(done, result.fold_into)
        self._prune()
        return done

    def next_number(self) -> int:
        with self._lock:
            number = self._next_number
            self._next_number += 1
            return number

    def add(
        self, job: NewJob, *, front: bool = False, max_pending: int | None = None, answer: AnswerFor | None = None
    ) -> Job:
        with self._lock:
            if max_pending is not None and len(self._in_state({JobState.PENDING})) >= max_pending:
                raise QueueFullError(max_pending)
            number = job.number
            if number is None:
                self._check_new(job.id)  # a duplicate takes no number
                counter = self._next_number
                self._next_number += 1
                number = float(-counter if front else counter)
            added = self._add(job, number)
            if answer is not None:
                self._store_answer(answer([added]))
            return added

    def _store_answer(self, answer: StoredAnswer) -> None:
        now = int(time.time() * 1000)
        for key in [k for k, a in self._answers.items() if a.expires_ms < now]:
            del self._answers[key]
        self._answers[answer.key] = answer  # one process: its callers never store a key twice

    def get_answer(self, key: str, now_ms: int) -> StoredAnswer | None:
        with self._lock:
            found = self._answers.get(key)
            return found if found is not None and found.expires_ms >= now_ms else None

    def _check_new(self, job_id: str) -> None:
        if any(j.id == job_id and j.state in ACTIVE_STATES for j in self._rows.values()):
            raise DuplicateJobError(job_id)

    def _add(self, job: NewJob, number: float) -> Job:
        """Insert one pending job; the caller holds the lock."""
        self._check_new(job.id)
        self._drop(j for j in self._rows.values() if j.id == job.id and j.state is JobState.REMOVED)
        self._last_seq += 1
        texts = job.texts(_dump)
        # The JSON is never read from the row: the copies handed out are parsed from the texts.
        stored = replace(pending_record(job, self._last_seq, number), prompt={}, extra_data={}, outputs_to_execute=[])
        self._rows[stored.seq] = stored
        self._texts[stored.seq] = texts
        return self._out(stored)

    def claim_next(
        self, worker_id: str, now_ms: int, *, look_ahead: int = 1, choose: Chooser | None = None
    ) -> Job | None:
        with self._lock:
            pending = self._in_state({JobState.PENDING})
            if self._paused or not pending:
                return None
            index = 0
            if choose is not None and look_ahead > 1:
                picked = choose([self._out(job) for job in pending[:look_ahead]])
                if picked is None:
                    return None
                index = picked if 0 <= picked < min(look_ahead, len(pending)) else 0
            chosen = pending[index]
            claimed = self._change(chosen, state=JobState.IN_PROGRESS, worker_id=worker_id, started_ms=now_ms)
            return self._out(claimed)

    def finish(self, job_id: str, result: JobResult) -> Job | None:
        result = checked_result(result)
        with self._lock:
            running = [j for j in self._rows.values() if j.id == job_id and j.state is JobState.IN_PROGRESS]
            return self._out(self._finish_row(running[0], result)) if running else None

    def cancel(self, job_id: str) -> Cancelled:
        with self._lock:
            job = self._newest(job_id)
            if job is None:
                return Cancelled(CancelOutcome.UNKNOWN, None, None)
            if job.state is JobState.PENDING:
                removed = self._change(job, state=JobState.REMOVED, stop_reason=REMOVED_REASON)
                self._prune()
                return Cancelled(CancelOutcome.CANCELLED, self._out(removed), job.state)
            if job.state is JobState.IN_PROGRESS and not job.cancel_requested:
                marked = self._change(job, cancel_requested=True)
                return Cancelled(CancelOutcome.CANCELLED, self._out(marked), job.state)
            if job.state in HISTORY_STATES:
                return Cancelled(CancelOutcome.ALREADY_FINISHED, self._out(job), job.state)
            return Cancelled(CancelOutcome.CANCELLED, self._out(job), job.state)

    def request_interrupt(self, job_id: str | None) -> list[Job]:
        with self._lock:
            marked = []
            for job in self._in_state({JobState.IN_PROGRESS}):
                if job_id is None or job.id == job_id:
                    marked.append(job if job.cancel_requested else self._change(job, cancel_requested=True))
            return [self._out(job) for job in marked]

    def delete_pending(self, ids: Collection[str] | None) -> list[str]:
        wanted = None if ids is None else set(ids)
        with self._lock:
            removed = []
            for job in self._in_state({JobState.PENDING}):
                if wanted is None or job.id in wanted:
                    self._change(job, state=JobState.REMOVED, stop_reason=REMOVED_REASON)
                    removed.append(job.id)
            self._prune()
            return removed

    def clear_queue(self, *, include_running: bool) -> tuple[list[str], list[Job], list[str]]:
        with self._lock:
            removed = []
            for job in self._in_state({JobState.PENDING}):
                self._change(job, state=JobState.REMOVED, stop_reason=REMOVED_REASON)
                removed.append(job.id)
            self._prune()
            stopped = sorted(r.id for r in self._repeats.values() if r.state in LIVE_REPEAT_STATES)
            for repeat_id in stopped:
                self._repeats[repeat_id] = replace(
                    self._repeats[repeat_id], state=RepeatState.STOPPED, stop_reason="queue_cleared", current_job=None
                )
            marked = []
            if include_running:
                for job in self._in_state({JobState.IN_PROGRESS}):
                    marked.append(job if job.cancel_requested else self._change(job, cancel_requested=True))
            return removed, [self._out(job) for job in marked], stopped

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._newest(job_id)
            return None if job is None else self._out(job)

    def pending(self) -> list[Job]:
        with self._lock:
            return [self._out(job) for job in self._in_state({JobState.PENDING})]

    def running(self) -> list[Job]:
        with self._lock:
            return [self._out(job) for job in self._in_state({JobState.IN_PROGRESS})]

    def queue_items(self) -> tuple[list[QueueItem], list[QueueItem]]:
        with self._lock:
            running = [QueueItem(j.number, j.id, *self._texts[j.seq]) for j in self._in_state({JobState.IN_PROGRESS})]
            return running, [QueueItem(j.number, j.id, *self._texts[j.seq]) for j in self._in_state({JobState.PENDING})]

    def change_count(self) -> int:
        # Not tracked here: a new number each time, so nothing built from this store is ever reused.
        with self._lock:
            self._views += 1
            return self._views

    def counts(self) -> tuple[int, int]:
        with self._lock:
            states = [job.state for job in self._rows.values()]
            return states.count(JobState.PENDING), states.count(JobState.IN_PROGRESS)

    def queue_state(self) -> tuple[int, int, bool]:
        with self._lock:
            return (*self.counts(), self._paused)

    def _history(self) -> list[Job]:
        return sorted((j for j in self._rows.values() if j.state in HISTORY_STATES), key=lambda j: j.finished_seq or 0)

    def history(self, offset: int, limit: int | None) -> list[Job]:
        check_page(offset, limit)
        with self._lock:
            return [self._out(job) for job in _page(self._history(), offset, limit)]

    def history_count(self) -> int:
        with self._lock:
            return len(self._history())

    def delete_history(self, ids: Collection[str] | None) -> int:
        wanted = None if ids is None else set(ids)
        with self._lock:
            doomed = [job for job in self._history() if wanted is None or job.id in wanted]
            self._drop_groups(j for j in doomed if j.seq not in self._folded)
            self._drop(j for j in doomed if j.seq in self._rows)
            return len(doomed)

    def list_jobs(
        self,
        statuses: Collection[str],
        *,
        sort_by: str = "created_at",
        descending: bool = True,
        offset: int = 0,
        limit: int | None = None,
        workflow_id: str | None = None,
    ) -> tuple[list[JobSummary], int]:
        if sort_by not in SORT_KEYS:
            raise ValueError(f"sort_by must be one of {SORT_KEYS}, got {sort_by!r}")
        check_page(offset, limit)
        states = states_for(statuses)
        with self._lock:
            matched = [
                job
                for job in self._rows.values()
                if job.state in states
                and (workflow_id is None or job.workflow_id == workflow_id)
                and job.seq not in self._folded
            ]
            matched.sort(key=_SORT[sort_by], reverse=descending)
            page = _page(matched, offset, limit)
            return [summarize(replace(j, outputs=_clone(j.outputs), messages=_clone(j.messages))) for j in page], len(
                matched
            )

    def recover_orphans(self, *, requeue: bool, now_ms: int) -> list[Job]:
        with self._lock:
            orphans = self._in_state({JobState.IN_PROGRESS})
            lowest = min((job.number for job in self._in_state({JobState.PENDING})), default=None)
            plans = settle_orphans(orphans, requeue=requeue, lowest_pending=lowest, now_ms=now_ms)
            recovered = []
            for job, plan in zip(orphans, plans, strict=True):
                if isinstance(plan, JobResult):
                    recovered.append(self._finish_row(job, plan))
                else:
                    changes: dict[str, Any] = {"number": plan, "worker_id": None, "started_ms": None}
                    recovered.append(self._change(job, state=JobState.PENDING, cancel_requested=False, **changes))
            return [self._out(job) for job in recovered]

    def move(self, job_id: str, *, to: str | None = None, before: str | None = None) -> Moved:
        with self._lock:
            job = self._newest(job_id)
            if job is None:
                return Moved(MoveOutcome.JOB_NOT_FOUND)
            if job.state is not JobState.PENDING:
                return Moved(MoveOutcome.JOB_NOT_PENDING)
            if before is not None:
                anchor = self._newest(before)
                if anchor is None:
                    return Moved(MoveOutcome.ANCHOR_NOT_FOUND)
                if anchor.state is not JobState.PENDING:
                    return Moved(MoveOutcome.ANCHOR_NOT_PENDING)
            pending = self._in_state({JobState.PENDING})
            order = [(j.id, j.number) for j in pending]
            changes, position = plan_move(order, job_id, to=to, before=before)
            for row in pending:
                if row.id in changes:
                    self._change(row, number=changes[row.id])
            return Moved(MoveOutcome.MOVED, changes.get(job_id, job.number), position)

    def add_batch(
        self,
        batch_id: str,
        jobs: Sequence[NewJob],
        *,
        requested: int,
        max_pending: int,
        answer: AnswerFor | None = None,
    ) -> list[Job]:
        with self._lock:
            pending = len(self._in_state({JobState.PENDING}))
            fitting = list(jobs[: max(0, max_pending - pending)])
            for job in fitting:  # checked before any insert: all or nothing
                if any(j.id == job.id and j.state in ACTIVE_STATES for j in self._rows.values()):
                    raise DuplicateJobError(job.id)
            added = [self._add(job, given_number(job)) for job in fitting]
            created = fitting[0].created_ms if fitting else 0
            self._batches[batch_id] = BatchRecord(batch_id, requested, tuple(j.id for j in fitting), created)
            if answer is not None:
                self._store_answer(answer(added))
            return added

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        with self._lock:
            return self._batches.get(batch_id)

    def add_repeat(self, repeat: RepeatRecord, job: NewJob, *, answer: AnswerFor | None = None) -> Job:
        with self._lock:
            added = self._add_next(job)
            if answer is not None:
                self._store_answer(answer([added]))
            self._repeats[repeat.id] = _own(replace(repeat, current_job=job.id))
            return added

    def _add_next(self, job: NewJob) -> Job:
        number = job.number
        if number is None:
            self._check_new(job.id)
            number = float(self._next_number)
            self._next_number += 1
        return self._add(job, number)

    def get_repeat(self, repeat_id: str) -> RepeatRecord | None:
        with self._lock:
            repeat = self._repeats.get(repeat_id)
            return None if repeat is None else _own(repeat)

    def list_repeats(self) -> list[RepeatRecord]:
        with self._lock:
            ordered = sorted(self._repeats.values(), key=lambda r: (r.created_ms, r.id))
            live = [r for r in ordered if r.state in LIVE_REPEAT_STATES]
            ended = [r for r in reversed(ordered) if r.state not in LIVE_REPEAT_STATES][:RECENT_ENDED_REPEATS]
            return [_own(r) for r in [*live, *ended]]

    def update_repeat(self, repeat: RepeatRecord, *, expected_job: str | None, job: NewJob | None = None) -> Job | None:
        with self._lock:
            found = self._repeats.get(repeat.id)
            if found is None or found.state not in LIVE_REPEAT_STATES or found.current_job != expected_job:
                raise RepeatConflict(repeat.id)
            added = None
            if job is not None:
                added = self._add_next(job)
                repeat = replace(repeat, current_job=job.id)
            self._repeats[repeat.id] = _own(repeat)
            ended = sorted(
                (r for r in self._repeats.values() if r.state not in LIVE_REPEAT_STATES),
                key=lambda r: (r.created_ms, r.id),
                reverse=True,
            )
            for old in ended[RECENT_ENDED_REPEATS:]:
                del self._repeats[old.id]
            return added

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = paused

    def is_paused(self) -> bool:
        with self._lock:
            return self._paused

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # Each method changes nothing before it raises, so undoing the block is restoring what it started from.
        with self._lock:
            saved = {name: value.copy() if isinstance(value, dict) else value for name, value in vars(self).items()}
            try:
                yield
            except BaseException:
                vars(self).update(saved)
                raise

    def uncontended(self) -> AbstractContextManager[bool]:
        return uncontended(self._lock)

    def close(self) -> None:
        with self._lock:
            self._rows.clear()
            self._texts.clear()
