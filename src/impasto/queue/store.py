"""The `JobStore` protocol: the queue, the history and the priority counter as one durable store.

Contract shared by every implementation (one contract test suite runs against each):

- Thread-safe. Every method is one transaction, committed by the store before it returns: a caller never
  commits, and what a method returned is what a later call (and, for `SqliteJobStore` on a file, a later
  process) sees. Nothing is half-applied when a method raises.
- Run order is `(number, seq)` ascending: `number` as assigned (front items have negative numbers, so they run
  first and last-in-first-out among themselves), ties by submission order.
- An id has at most one PENDING or IN_PROGRESS row. Its earlier finished entry stays in history until the new
  run finishes, then is replaced; `get` and `cancel` see the newest row of an id.
- The prompt and `extra_data` are opaque JSON to the store, stored as given. The records it returns are
  read-only: a record may share its prompt, `extra_data` and `outputs_to_execute` with the `NewJob` it was
  added from and with the other records of the same run (a frontend submission carries its UI workflow,
  tens or hundreds of KB, which is then decoded once per run, not once per call). Removing sensitive
  `extra_data` keys is the caller's job.
- History keeps the newest `history_max` finished jobs by completion order; REMOVED tombstones are kept, up to
  `history_max` of them (oldest submitted pruned first), but never counted as history.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from impasto.queue.answers import AnswerFor, StoredAnswer
from impasto.queue.jobs import BatchRecord, Cancelled, Job, JobResult, JobSummary, Moved, NewJob, QueueItem
from impasto.queue.repeats import RepeatRecord

Chooser = Callable[[list[Job]], int | None]  # candidates in run order -> index of the one to claim, or none


class JobStore(Protocol):
    def next_number(self) -> int:
        """Take the persisted priority counter and advance it (atomic read-and-increment).

        The first value of a new store is 0. Every value is greater than every value returned before,
        across restarts; explicit numbers given to `add` do not move the counter.
        """
        ...

    def add(
        self, job: NewJob, *, front: bool = False, max_pending: int | None = None, answer: AnswerFor | None = None
    ) -> Job:
        """Queue a job as PENDING with the next `seq`; returns the stored row (version 1).

        A `job.number` of None takes `next_number()` in the same transaction, negated when `front` (an explicit
        number is used as given and `front` is ignored). Raises `DuplicateJobError` when that id is PENDING or
        IN_PROGRESS, and `QueueFullError` when `max_pending` jobs are already pending; either way nothing
        changes and no number is taken. A REMOVED tombstone of the id is dropped; a finished entry of the id
        stays in history until this run finishes. With `answer`, the answer it builds from the new job is
        stored in the same transaction (`get_answer`), and answers past their expiry are dropped.
        """
        ...

    def claim_next(
        self, worker_id: str, now_ms: int, *, look_ahead: int = 1, choose: Chooser | None = None
    ) -> Job | None:
        """Atomically move the first PENDING job in run order to IN_PROGRESS for `worker_id`.

        Sets `worker_id` and `started_ms = now_ms`. Returns None, changing nothing, when nothing is pending or
        the queue is paused. Two concurrent callers never receive the same job. With `choose`, the first
        `look_ahead` pending jobs in run order are read and `choose` picks the index of the one to claim (in
        the same transaction; an index out of range means the first, None claims nothing).
        """
        ...

    def finish(self, job_id: str, result: JobResult) -> Job | None:
        """Record how the IN_PROGRESS job `job_id` ended; returns the updated row.

        `result.state` must be in `TERMINAL_STATES` (ValueError otherwise). A history state gives the job a new
        `finished_seq`, replaces any older entry or tombstone of the same id, and prunes history beyond
        `history_max`. REMOVED (a cancel that arrived between claim and start) makes a tombstone, with no
        history entry. Returns None, changing nothing, when the job is not IN_PROGRESS.
        """
        ...

    def cancel(self, job_id: str) -> Cancelled:
        """Cancel by id, deciding on the state found in the same transaction.

        PENDING -> REMOVED (`CANCELLED`); IN_PROGRESS -> `cancel_requested` set (`CANCELLED`, idempotent; the
        state stays IN_PROGRESS until the worker finishes the job); REMOVED -> `CANCELLED` with no change;
        a history state -> `ALREADY_FINISHED` with no change; no row -> `UNKNOWN` (`job` and `was` None).
        `was` is the state before the call, `job` the row after it.
        """
        ...

    def request_interrupt(self, job_id: str | None) -> list[Job]:
        """Set `cancel_requested` on the IN_PROGRESS job `job_id`, or on every IN_PROGRESS job when None.

        Returns every targeted IN_PROGRESS job (those already marked included), in run order; [] when the id
        is not in progress or nothing runs. Nothing is remembered for later jobs.
        """
        ...

    def delete_pending(self, ids: Collection[str] | None) -> list[str]:
        """Turn the PENDING jobs among `ids` (every PENDING job when None) into REMOVED tombstones.

        Returns the removed ids in run order; ids that are not pending are ignored; [] when none matched.
        """
        ...

    def clear_queue(self, *, include_running: bool) -> tuple[list[str], list[Job], list[str]]:
        """Remove every pending job, stop every live repeat (`queue_cleared`) and, with `include_running`,
        request a cancel of every running job.

        One transaction. Returns the removed ids in run order, the running jobs marked and the stopped repeats
        (empty lists when there were none).
        """
        ...

    def get(self, job_id: str) -> Job | None:
        """The newest row of `job_id`, REMOVED tombstones included (so callers can tell); None when absent."""
        ...

    def pending(self) -> list[Job]:
        """Every PENDING job in run order (paused or not); [] when the queue is empty."""
        ...

    def running(self) -> list[Job]:
        """Every IN_PROGRESS job in run order; [] when none."""
        ...

    def queue_items(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """`(running, pending)` as raw JSON items, both in run order, read in one consistent snapshot."""
        ...

    def change_count(self) -> int:
        """A number that differs whenever what the store holds may have changed since it was last returned
        (a write through any store on the same data, in any process), so a view of it can be reused."""
        ...

    def counts(self) -> tuple[int, int]:
        """`(pending, running)` counts, read in one snapshot."""
        ...

    def queue_state(self) -> tuple[int, int, bool]:
        """`(pending, running, paused)`, read in one snapshot (what every `status` message carries)."""
        ...

    def history(self, offset: int, limit: int | None) -> list[Job]:
        """Finished jobs (history states only), oldest completion first: skip `offset`, then up to `limit`.

        `limit=None` means no limit; an offset at or beyond the count gives []. Negative values: ValueError.
        """
        ...

    def history_count(self) -> int:
        """How many finished jobs history holds."""
        ...

    def delete_history(self, ids: Collection[str] | None) -> int:
        """Delete the finished entries of `ids` (all finished entries when None); returns how many.

        Pending and running jobs and tombstones are never touched; unknown ids are ignored.
        """
        ...

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
        """One page of the Jobs API list and the total of the filtered set, from one snapshot.

        `statuses` are Jobs API names (`JOBS_API_STATES`; `cancelled` covers CANCELLED and INTERRUPTED); an
        empty collection matches nothing, an unknown name is a ValueError. REMOVED jobs never appear.
        `sort_by` is `created_at` (`created_ms`) or `execution_duration` (`ended_ms - started_ms`, 0 when either
        is unknown); ties break by `seq` in the same direction. Filter, sort, then `offset`, then `limit`.
        """
        ...

    def recover_orphans(self, *, requeue: bool, now_ms: int) -> list[Job]:
        """At start-up, settle every IN_PROGRESS job left by a dead server; returns them, in run order.

        Default: each becomes INTERRUPTED (`stop_reason "server_restarted"`, `status_str "error"`, messages
        `execution_start` and `execution_interrupted`, `ended_ms = now_ms`) and enters history. With
        `requeue=True` each goes back to PENDING ahead of every pending job, keeping its order among the
        orphans; one whose cancel had been requested is interrupted instead. [] when nothing was running.
        """
        ...

    def move(self, job_id: str, *, to: str | None = None, before: str | None = None) -> Moved:
        """Give a pending job a new place: `to` "front" or "back", or `before` another pending job.

        One transaction: the states of both jobs are read and the new numbers written together. Nothing
        changes unless the outcome is MOVED; a move to where the job already is changes nothing either.
        """
        ...

    def add_batch(
        self,
        batch_id: str,
        jobs: Sequence[NewJob],
        *,
        requested: int,
        max_pending: int,
        answer: AnswerFor | None = None,
    ) -> list[Job]:
        """Queue a batch's jobs in item order, as many as fit under `max_pending`, and record the batch.

        One transaction: every job, the batch record and the answer, or nothing (DuplicateJobError for an
        active id).
        """
        ...

    def get_batch(self, batch_id: str) -> BatchRecord | None: ...

    def get_answer(self, key: str, now_ms: int) -> StoredAnswer | None:
        """The stored answer for an idempotency key, unless it expired before `now_ms`."""
        ...

    def add_repeat(self, repeat: RepeatRecord, job: NewJob, *, answer: AnswerFor | None = None) -> Job:
        """Store a new repeat with its first job (`add` semantics, at the back), in one transaction; the
        repeat's `current_job` becomes the job's id."""
        ...

    def get_repeat(self, repeat_id: str) -> RepeatRecord | None: ...

    def list_repeats(self) -> list[RepeatRecord]:
        """Live repeats (oldest first), then the `RECENT_ENDED_REPEATS` most recently created ended ones."""
        ...

    def update_repeat(self, repeat: RepeatRecord, *, expected_job: str | None, job: NewJob | None = None) -> Job | None:
        """Write `repeat` if the stored one is live and its current job is still `expected_job`; with `job`,
        queue it (at the back) and make it the current job, in the same transaction. Raises `RepeatConflict`,
        changing nothing, otherwise. Returns the queued job."""
        ...

    def set_paused(self, paused: bool) -> None:
        """Persist whether `claim_next` hands out jobs."""
        ...

    def is_paused(self) -> bool:
        """Whether the queue is paused (False for a new store)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Make the store calls of the block, on this thread, one transaction: other callers see all of them or
        none, and a durable store commits them once. A call that raises inside is undone alone (the block may
        catch it and go on); an exception leaving the block undoes every call made in it."""
        ...

    def uncontended(self) -> AbstractContextManager[bool]:
        """Hold the store for the calling thread if no other thread is using it: True inside means the calls
        made in the block do not wait for another thread (the server then makes short calls on its event loop
        instead of hopping to a thread). Re-entrant: calls in the block take the store as usual.
        """
        ...

    def close(self) -> None:
        """Release the store's resources; idempotent. Other methods must not be called afterwards."""
        ...
