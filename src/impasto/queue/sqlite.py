"""`SqliteJobStore`: the durable `JobStore` (the contract is in `impasto.queue.store`).

One connection per store, guarded by a lock; every method is one transaction. Writes use `BEGIN IMMEDIATE`,
reads a deferred `BEGIN` (one snapshot across their statements, without blocking writers). WAL journal with
`synchronous=NORMAL`: a committed transaction survives a crash or `kill -9` of the process (only an OS crash or
power loss can drop the last commits). Several stores, even in several processes, may share one file.
A file store copies its WAL into the database file from a thread of its own (`_Checkpointer`), never inside a
commit, so every call stays short enough for the server to make on its event loop (`JobStore.uncontended`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from impasto.protocol.events import EventType
from impasto.queue.answers import AnswerExistsError, AnswerFor, StoredAnswer
from impasto.queue.jobs import (
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
    message_data,
    pending_record,
    plan_move,
    settle_orphans,
    states_for,
)
from impasto.queue.locking import store_lock, uncontended
from impasto.queue.migrations import migrate
from impasto.queue.repeats import RECENT_ENDED_REPEATS, RepeatConflict, RepeatRecord, RepeatState
from impasto.queue.store import Chooser

_dump = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))

# finished_seq is set (from 1) exactly when a job enters a history state, and history rows never change state
# again, so this range both selects history and lets the index jobs_history serve filter and order.
_HISTORY = "finished_seq > 0"
# A lookup by id also naming a state writes it `+state`: the unary plus keeps SQLite on the index jobs_id (an id
# has a row or two) instead of jobs_state, which would walk every row in that state (10,000 tombstones, say).
_SUMMARY_COLUMNS = (
    "id, number, seq, state, client_id, created_ms, started_ms, ended_ms, worker_id, cancel_requested,"
    " stop_reason, outputs, messages, status_str, workflow_id, version, finished_seq"
)
_COLUMNS = _SUMMARY_COLUMNS + ", prompt, extra_data, outputs_to_execute, meta"
# What a claim or a finish may find changed in an active row since this store added or claimed it (another store
# on the same file may move or cancel it); the rest of an active row never changes.
_CLAIM_RETURNS = "seq, number, version, cancel_requested"
_FINISH_RETURNS = "number, started_ms, worker_id, cancel_requested, version"
_ORDER = {"created_at": "created_ms", "execution_duration": "duration_ms"}
_ALL = -1  # SQLite's LIMIT for "no limit"
# The newest row of an id, via jobs_id: a pending or running run is always newer than the id's history entry.
_NEWEST = f"SELECT {_COLUMNS} FROM jobs WHERE id = ? ORDER BY seq DESC LIMIT 1"
_ACTIVE_COUNTS = (
    "SELECT (SELECT value FROM counters WHERE name = 'pending'),"
    " (SELECT value FROM counters WHERE name = 'in_progress'),"
    " (SELECT value FROM settings WHERE name = 'paused')"
)
# Jobs of one state in run order, served by the index jobs_queue without a sort.
_IN_STATE = f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY number, seq"


CLAIMED_KEPT = 1024  # running jobs whose decoded submission the store keeps for their finish
ADDED_KEPT = 8  # jobs just added whose decoded submission the store keeps for an immediate claim
CHECKPOINT_EVERY = 200  # commits between checkpoints (also made once a second while commits come)
WAL_SIZE_LIMIT = 32 * 2**20  # bytes of WAL file kept after a checkpoint empties it


class _Checkpointer:
    """Copies the WAL into the database file from a thread and a connection of its own, so that no commit
    (some are made on the server's event loop) pays for a checkpoint and its file syncs. PASSIVE: it never
    waits for, nor blocks, the store's readers and writers."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="impasto-store-checkpoint", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            seen = -1
            while not self._stopping:
                self._wake.wait(1.0)
                self._wake.clear()
                version = int(db.execute("PRAGMA data_version").fetchone()[0])
                if version != seen:  # something committed since the last look
                    seen = version
                    # Busy or locked by another process: the next round copies it.
                    with contextlib.suppress(sqlite3.OperationalError):
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            db.close()


def _connect(path: Path | None) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions from the sqlite3 module; this class issues BEGIN/COMMIT.
    # check_same_thread=False: callers use the store from many threads; the store's lock serializes them.
    db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None, check_same_thread=False)
    try:
        db.row_factory = sqlite3.Row
        # WAL: readers never block the writer. An in-memory database answers "memory" and keeps its journal.
        db.execute("PRAGMA journal_mode = WAL").fetchone()
        # NORMAL in WAL mode syncs at checkpoints only; a commit is still durable against a process crash.
        db.execute("PRAGMA synchronous = NORMAL")
        if path is not None:
            # Checkpoints are made by the store's own thread (`_Checkpointer`), not by the commit that fills up
            # the WAL; a checkpoint that empties the WAL lets it shrink back to this size.
            db.execute("PRAGMA wal_autocheckpoint = 0").fetchone()
            db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}").fetchone()
        # Another process holding the write lock makes BEGIN IMMEDIATE wait up to 5 s instead of failing.
        db.execute("PRAGMA busy_timeout = 5000")
        # No foreign keys yet; enforced from the start so a later migration that adds one cannot be bypassed.
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


_JSON_COLUMNS = frozenset({"prompt", "extra_data", "outputs_to_execute", "outputs", "meta", "messages"})


def _values(row: sqlite3.Row, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row's columns as record fields (the selected column names are the field names of `Job`), without the
    columns in `skip`."""
    values = {
        k: json.loads(v) if k in _JSON_COLUMNS else v for k, v in zip(row.keys(), row, strict=True) if k not in skip
    }
    values["state"] = JobState(values["state"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return values


def _job(row: sqlite3.Row) -> Job:
    return Job(**_values(row))


def _texts(job: NewJob) -> tuple[str, str, str]:
    """A new job's prompt, extra_data and outputs_to_execute as the JSON text stored (and served by GET /queue)."""
    return job.texts(_dump)


def _claimed(known: Job, row: sqlite3.Row, worker_id: str, started_ms: int) -> Job:
    """`known` (the job as this store added it) as a claim left it; `row` (`_CLAIM_RETURNS`) holds what may have
    changed since the insert, possibly through another store."""
    return replace(
        known,
        number=row[1],
        state=JobState.IN_PROGRESS,
        started_ms=started_ms,
        worker_id=worker_id,
        cancel_requested=bool(row[3]),
        version=row[2],
    )


def _finished(known: Job, row: sqlite3.Row, result: JobResult, finished_seq: int | None) -> Job:
    """`known` (the job as this store claimed it) as `finish` left it; `row` (`_FINISH_RETURNS`) holds what may
    have changed since the claim."""
    return replace(
        known,
        number=row[0],
        state=result.state,
        started_ms=row[1],
        ended_ms=result.ended_ms,
        worker_id=row[2],
        cancel_requested=bool(row[3]),
        stop_reason=result.stop_reason,
        outputs=result.outputs,
        meta=result.meta,
        messages=result.messages,
        status_str=result.status_str,
        version=row[4],
        finished_seq=finished_seq,
    )


def _summary(row: sqlite3.Row) -> JobSummary:
    values = _values(row)
    error = message_data(values["messages"], EventType.EXECUTION_ERROR)
    interrupted = message_data(values["messages"], EventType.EXECUTION_INTERRUPTED) is not None
    return JobSummary(**values, error=error, interrupted=interrupted)


def _id_filter(ids: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    # The ids travel as one JSON array through json_each, so any number of them fits one statement.
    return ("", ()) if ids is None else (" AND id IN (SELECT value FROM json_each(?))", (_dump(list(ids)),))


_REPEAT_COLUMNS = "id, state, created_ms, runs, max_runs, current_job, last_job, stop_reason, spec"


def _repeat(row: sqlite3.Row) -> RepeatRecord:
    return RepeatRecord(
        id=row["id"],
        state=RepeatState(row["state"]),
        created_ms=row["created_ms"],
        runs=row["runs"],
        max_runs=row["max_runs"],
        current_job=row["current_job"],
        last_job=row["last_job"],
        stop_reason=row["stop_reason"],
        spec=json.loads(row["spec"]),
    )


def _repeat_values(repeat: RepeatRecord) -> tuple[Any, ...]:
    return (
        repeat.id,
        repeat.state.value,
        repeat.created_ms,
        repeat.runs,
        repeat.max_runs,
        repeat.current_job,
        repeat.last_job,
        repeat.stop_reason,
        _dump(repeat.spec),
    )


def _renumbered(item: QueueItem, number: float) -> QueueItem:
    return item if item.number == number else replace(item, number=number)


class SqliteJobStore:
    """A `JobStore` in a SQLite file, or in memory when `path` is None (`--ephemeral`).

    `extra_data` is stored as given; strip the sensitive keys before `add`.
    """

    def __init__(self, path: Path | None, *, history_max: int = 10_000) -> None:
        if history_max < 0:
            raise ValueError(f"history_max must not be negative, got {history_max}")
        self.path = path
        self.history_max = history_max
        # sqlite3 connections are not safe for concurrent use; one lock spans each whole transaction.
        self._lock = store_lock()
        self._db = _connect(path)
        self._closed = False
        # GET /queue items by seq, so 2,000 pending prompts are not read and decoded on every call. A row's id,
        # prompt, extra_data and outputs_to_execute never change and a seq is never reused, so an entry stays
        # right even while another process changes the queue; `number` (changed by a requeue) is read fresh.
        self._items: dict[int, QueueItem] = {}
        self._writes = 0  # commits through this store; other connections show in PRAGMA data_version
        self._depth = 0  # open transaction levels (`transaction`): 0 none, 1 the outer one, more savepoints
        self._on_commit: list[Callable[[], None]] = []  # cache updates waiting for the outer commit
        # seq -> the record of a job claimed through this store, for its finish (bounded), and of the jobs added
        # last, for a claim that follows at once (a worker was free): their submitted JSON is not read back.
        self._claimed: dict[int, Job] = {}
        self._added: dict[int, Job] = {}
        self._checkpointer = None if path is None else _Checkpointer(path)

    @contextmanager
    def _write(self, *, undoable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; inside `transaction`, a savepoint, unless the call is not `undoable`: every
        failure it expects comes before its first change, or from its only statement (which then changed
        nothing), and anything else fails the whole transaction."""
        with self._lock:
            if self._depth:
                if not undoable:
                    yield self._db
                    return
                with self._savepoint():
                    yield self._db
                return
            # IMMEDIATE takes the write lock before the first read, so a read-then-write transaction never
            # fails half-way on a lock upgrade (in WAL mode that is SQLITE_BUSY with no retry).
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._on_commit.clear()
                self._added.clear()  # a seq of a row undone here may be taken again
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
            self._writes += 1
            done, self._on_commit = self._on_commit, []
            for update in done:
                update()
            if self._checkpointer is not None and self._writes % CHECKPOINT_EVERY == 0:
                self._checkpointer.wake()

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A store call inside `transaction`: on failure it is undone alone, and the transaction goes on."""
        self._depth += 1
        name, waiting = f"call{self._depth}", len(self._on_commit)
        self._db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._db.execute(f"ROLLBACK TO {name}")
            del self._on_commit[waiting:]
            raise
        finally:
            self._db.execute(f"RELEASE {name}")
            self._depth -= 1

    def _after_commit(self, update: Callable[[], None]) -> None:
        """Run a cache update once what it describes is committed (at once outside `transaction`)."""
        with self._lock:
            if self._depth:
                self._on_commit.append(update)
            else:
                update()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._write():
            yield

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._depth:  # inside a transaction: it reads that transaction's state
                yield self._db
                return
            # A deferred transaction: every statement of the method reads the same snapshot.
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    def _prune(self, db: sqlite3.Connection, *, tombstones: bool) -> None:
        # Keep the newest history_max history entries (completion order, via jobs_history), or the newest
        # history_max tombstones (submission order, via jobs_state): they are not history. The counts are kept
        # by triggers, so only the excess is read, from the oldest end.
        counter, where, key = (
            ("tombstones", "state = 'removed'", "seq") if tombstones else ("history_rows", _HISTORY, "finished_seq")
        )
        count = db.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()[0]
        excess = int(count) - self.history_max
        if excess <= 0:
            return
        if tombstones:
            db.execute(
                f"DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE {where} ORDER BY {key} LIMIT ?)",
                (excess,),
            )
            return
        # A fold group is one entry: pruning its newest member takes the folded ones with it.
        groups = db.execute(
            f"DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE {where} AND +folded = 0 ORDER BY {key}"
            " LIMIT ?) RETURNING fold_group",
            (excess,),
        ).fetchall()
        self._drop_folded(db, [g[0] for g in groups if g[0] is not None])

    @staticmethod
    def _drop_folded(db: sqlite3.Connection, groups: list[str]) -> None:
        if groups:
            db.execute(
                "DELETE FROM jobs WHERE +folded = 1 AND fold_group IN (SELECT value FROM json_each(?))",
                (_dump(groups),),
            )

    @staticmethod
    def _fold(db: sqlite3.Connection, seq: int, into: str) -> None:
        """Makes history row `seq` the newest member of the fold group of the history entry `into`."""
        found = db.execute(
            "SELECT seq, coalesce(fold_group, id) AS grp FROM jobs WHERE id = ? AND +state = 'completed' AND seq <> ?"
            " ORDER BY seq DESC LIMIT 1",
            (into, seq),
        ).fetchone()
        if found is None:
            return  # pruned or deleted meanwhile: an entry of its own
        group = found["grp"]
        # The entry folded into is its client's last successful run: its group's newest member, the one member a
        # list shows (each fold makes the run it adds the newest). It now hides behind this run; the group's older
        # members stay folded, so none of them is read.
        db.execute("UPDATE jobs SET fold_group = ?, folded = 1 WHERE seq = ?", (group, found["seq"]))
        db.execute("UPDATE jobs SET fold_group = ? WHERE seq = ?", (group, seq))
        db.execute(
            "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE fold_group = ?"
            " ORDER BY finished_seq DESC LIMIT -1 OFFSET ?)",
            (group, FOLD_GROUP_MAX),
        )

    def _finish_row(self, db: sqlite3.Connection, seq: int, job_id: str, result: JobResult) -> Job:
        finished_seq = None
        if result.state in HISTORY_STATES:
            # The completion counter outlives pruned rows, so completion order never repeats.
            finished_seq = db.execute(
                "UPDATE counters SET value = value + 1 WHERE name = 'finished_seq' RETURNING value"
            ).fetchone()[0]
        fields = (result.state.value, _dump(result.outputs), _dump(result.meta), _dump(result.messages))
        known = self._claimed.pop(seq, None)
        row = db.execute(
            "UPDATE jobs SET state = ?, outputs = ?, meta = ?, messages = ?, status_str = ?, ended_ms = ?,"
            " stop_reason = ?, finished_seq = ?, version = version + 1 WHERE seq = ?"
            f" RETURNING {_COLUMNS if known is None else _FINISH_RETURNS}",
            (*fields, result.status_str, result.ended_ms, result.stop_reason, finished_seq, seq),
        ).fetchone()
        # A new history entry replaces every older entry and tombstone of its id (execution.md §11); a new
        # tombstone only older tombstones, so the previous run's history entry stays.
        replaced = f"({_HISTORY} OR state = 'removed')" if finished_seq is not None else "+state = 'removed'"
        db.execute(f"DELETE FROM jobs WHERE id = ? AND seq <> ? AND {replaced}", (job_id, seq))
        if result.fold_into is not None and result.state is JobState.COMPLETED:
            self._fold(db, seq, result.fold_into)
        self._items.pop(seq, None)
        self._prune(db, tombstones=finished_seq is None)
        return _job(row) if known is None else _finished(known, row, result, finished_seq)

    def next_number(self) -> int:
        with self._write() as db:
            return self._take_number(db)

    @staticmethod
    def _take_number(db: sqlite3.Connection) -> int:
        # Read and advance in one statement; RETURNING sees the new value, so the taken one is value - 1.
        row = db.execute("UPDATE counters SET value = value + 1 WHERE name = 'number' RETURNING value - 1")
        return int(row.fetchone()[0])

    def add(
        self, job: NewJob, *, front: bool = False, max_pending: int | None = None, answer: AnswerFor | None = None
    ) -> Job:
        texts = _texts(job)  # encoded before the lock is taken
        # QueueFullError and DuplicateJobError come before any change; only storing an answer can fail after one.
        with self._write(undoable=answer is not None) as db:
            if max_pending is not None:
                pending = db.execute("SELECT value FROM counters WHERE name = 'pending'").fetchone()[0]
                if pending >= max_pending:
                    raise QueueFullError(max_pending)
            number, tombstone = job.number, None
            if number is None:
                tombstone = self._check_new(db, job.id)  # a duplicate takes no number
                counter = self._take_number(db)
                number = float(-counter if front else counter)
            added = pending_record(job, self._insert(db, job, number, tombstone, texts), number)
            if answer is not None:
                self._store_answer(db, answer([added]))
        self._remember(added, texts)
        return added

    def _store_answer(self, db: sqlite3.Connection, answer: StoredAnswer) -> None:
        db.execute("DELETE FROM answers WHERE expires_ms < ?", (int(time.time() * 1000),))
        try:
            db.execute(
                "INSERT INTO answers (key, body_hash, status, body, expires_ms) VALUES (?, ?, ?, ?, ?)",
                (answer.key, answer.body_hash, answer.status, answer.body, answer.expires_ms),
            )
        except sqlite3.IntegrityError as exc:  # the caller's transaction rolls back: no job either
            raise AnswerExistsError(answer.key) from exc

    def get_answer(self, key: str, now_ms: int) -> StoredAnswer | None:
        with self._read() as db:
            row = db.execute(
                "SELECT key, body_hash, status, body, expires_ms FROM answers WHERE key = ? AND expires_ms >= ?",
                (key, now_ms),
            ).fetchone()
        return None if row is None else StoredAnswer(*row)

    def _check_new(self, db: sqlite3.Connection, job_id: str) -> bool:
        """Raise `DuplicateJobError` when the id is pending or running; whether it has a tombstone.

        Checked first for a typed error; the unique index jobs_active_id enforces the same rule. An id has a
        row or three (its history entry, a tombstone, its active run), all read through jobs_id.
        """
        states = {state for (state,) in db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))}
        if JobState.PENDING.value in states or JobState.IN_PROGRESS.value in states:
            raise DuplicateJobError(job_id)
        return JobState.REMOVED.value in states

    def _insert(
        self,
        db: sqlite3.Connection,
        job: NewJob,
        number: float,
        tombstone: bool | None = None,
        texts: tuple[str, str, str] | None = None,
    ) -> int:
        """Insert one pending job inside the caller's transaction; returns its seq (`tombstone`: what `_check_new`
        found, if the caller already asked it; `texts`: the job's `_texts`, if already encoded)."""
        if tombstone is None:
            tombstone = self._check_new(db, job.id)
        if tombstone:  # the new run supersedes it: a cancel must now find the pending job
            db.execute("DELETE FROM jobs WHERE id = ? AND +state = 'removed'", (job.id,))
        prompt, extra_data, outputs = _texts(job) if texts is None else texts
        row = db.execute(
            "INSERT INTO jobs (id, number, state, prompt, extra_data, outputs_to_execute, client_id,"
            " workflow_id, created_ms) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?) RETURNING seq",
            (job.id, number, prompt, extra_data, outputs, job.client_id, job.workflow_id, job.created_ms),
        ).fetchone()
        return int(row[0])

    def _remember(self, added: Job, texts: tuple[str, str, str]) -> None:
        with self._lock:
            if len(self._added) >= ADDED_KEPT:
                del self._added[next(iter(self._added))]
            self._added[added.seq] = added
        item = QueueItem(added.number, added.id, *texts)
        # Only once committed: a rolled-back insert could hand its seq to another row.
        self._after_commit(functools.partial(self._cache_item, added.seq, item))

    def _cache_item(self, seq: int, item: QueueItem) -> None:
        self._items[seq] = item

    def claim_next(
        self, worker_id: str, now_ms: int, *, look_ahead: int = 1, choose: Chooser | None = None
    ) -> Job | None:
        if choose is not None and look_ahead > 1:
            return self._claim_chosen(worker_id, now_ms, look_ahead, choose)
        with self._write(undoable=False) as db:
            # Pick and mark in one statement inside the write lock: no other claim can see this row as pending.
            # The subquery reads jobs_queue in run order; the paused flag is checked in the same statement.
            row = db.execute(
                "UPDATE jobs SET state = 'in_progress', worker_id = ?, started_ms = ?, version = version + 1"
                " WHERE seq = (SELECT seq FROM jobs WHERE state = 'pending' ORDER BY number, seq LIMIT 1)"
                f" AND (SELECT value FROM settings WHERE name = 'paused') = 0 RETURNING {_CLAIM_RETURNS}",
                (worker_id, now_ms),
            ).fetchone()
            return None if row is None else self._claimed_record(db, row, worker_id, now_ms)

    def _claim_chosen(self, worker_id: str, now_ms: int, look_ahead: int, choose: Chooser) -> Job | None:
        with self._write() as db:
            if db.execute("SELECT value FROM settings WHERE name = 'paused'").fetchone()[0]:
                return None
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = 'pending' ORDER BY number, seq LIMIT ?", (look_ahead,)
            ).fetchall()
            if not rows:
                return None
            candidates = [_job(r) for r in rows]
            index = choose(candidates)
            if index is None:
                return None
            chosen = candidates[index if 0 <= index < len(candidates) else 0]
            row = db.execute(
                "UPDATE jobs SET state = 'in_progress', worker_id = ?, started_ms = ?, version = version + 1"
                f" WHERE seq = ? RETURNING {_CLAIM_RETURNS}",
                (worker_id, now_ms, chosen.seq),
            ).fetchone()
            return self._claimed_record(db, row, worker_id, now_ms)

    def _claimed_record(self, db: sqlite3.Connection, row: sqlite3.Row, worker_id: str, now_ms: int) -> Job:
        seq = row[0]
        known = self._added.pop(seq, None)
        if known is None:  # added before a restart, or by another store, or long ago: read whole
            job = _job(db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE seq = ?", (seq,)).fetchone())
        else:
            job = _claimed(known, row, worker_id, now_ms)
        if len(self._claimed) >= CLAIMED_KEPT:  # claims finished elsewhere (another process, a restart)
            self._claimed.clear()
        # Only once committed: a claim rolled back with the insert of its job could leave a seq to be reused.
        self._after_commit(functools.partial(self._claimed.__setitem__, seq, job))
        return job

    def finish(self, job_id: str, result: JobResult) -> Job | None:
        result = checked_result(result)
        with self._write(undoable=False) as db:  # nothing it changes can fail by itself
            row = db.execute("SELECT seq FROM jobs WHERE id = ? AND +state = 'in_progress'", (job_id,)).fetchone()
            return None if row is None else self._finish_row(db, row["seq"], job_id, result)

    def cancel(self, job_id: str) -> Cancelled:
        with self._write() as db:
            # Lookup and change share this transaction: a job cannot start or finish in between.
            found = db.execute(_NEWEST, (job_id,)).fetchone()
            if found is None:
                return Cancelled(CancelOutcome.UNKNOWN, None, None)
            job = _job(found)
            if job.state in HISTORY_STATES:
                return Cancelled(CancelOutcome.ALREADY_FINISHED, job, job.state)
            if job.state is JobState.PENDING:
                change = f"state = 'removed', stop_reason = '{REMOVED_REASON}'"
            elif job.state is JobState.IN_PROGRESS and not job.cancel_requested:
                change = "cancel_requested = 1"  # the worker sees it and stops; finish records how it ended
            else:  # removed earlier, or its stop already requested: nothing changes
                return Cancelled(CancelOutcome.CANCELLED, job, job.state)
            sql = f"UPDATE jobs SET {change}, version = version + 1 WHERE seq = ? RETURNING {_COLUMNS}"
            changed = _job(db.execute(sql, (job.seq,)).fetchone())
            if job.state is JobState.PENDING:
                self._items.pop(job.seq, None)
                self._prune(db, tombstones=True)
            return Cancelled(CancelOutcome.CANCELLED, changed, job.state)

    def request_interrupt(self, job_id: str | None) -> list[Job]:
        where, args = ("", ()) if job_id is None else (" AND id = ?", (job_id,))
        with self._write() as db:
            # Only rows not yet marked change, so a repeated interrupt does not bump their version.
            db.execute(
                "UPDATE jobs SET cancel_requested = 1, version = version + 1"
                f" WHERE state = 'in_progress' AND cancel_requested = 0{where}",
                args,
            )
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = 'in_progress'{where} ORDER BY number, seq", args
            )
            return [_job(r) for r in rows]

    def delete_pending(self, ids: Collection[str] | None) -> list[str]:
        where, args = _id_filter(ids)
        with self._write() as db:
            rows = db.execute(
                f"UPDATE jobs SET state = 'removed', stop_reason = '{REMOVED_REASON}', version = version + 1"
                f" WHERE state = 'pending'{where} RETURNING id, number, seq",
                args,
            ).fetchall()
            self._prune(db, tombstones=True)
            for row in rows:
                self._items.pop(row["seq"], None)
        # RETURNING has no defined order.
        return [r["id"] for r in sorted(rows, key=lambda r: (r["number"], r["seq"]))]

    def clear_queue(self, *, include_running: bool) -> tuple[list[str], list[Job], list[str]]:
        with self._write() as db:
            # One transaction: a job that starts running between the two updates cannot slip through.
            removed = db.execute(
                f"UPDATE jobs SET state = 'removed', stop_reason = '{REMOVED_REASON}', version = version + 1"
                " WHERE state = 'pending' RETURNING id, number, seq"
            ).fetchall()
            self._prune(db, tombstones=True)
            for row in removed:
                self._items.pop(row["seq"], None)
            stopped = db.execute(
                "UPDATE repeats SET state = 'stopped', stop_reason = 'queue_cleared', current_job = NULL"
                " WHERE state IN ('active', 'idle') RETURNING id"
            ).fetchall()
            interrupted: list[Job] = []
            if include_running:
                db.execute(
                    "UPDATE jobs SET cancel_requested = 1, version = version + 1"
                    " WHERE state = 'in_progress' AND cancel_requested = 0"
                )
                rows = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state = 'in_progress' ORDER BY number, seq")
                interrupted = [_job(r) for r in rows]
        removed_ids = [r["id"] for r in sorted(removed, key=lambda r: (r["number"], r["seq"]))]
        return removed_ids, interrupted, sorted(r["id"] for r in stopped)

    def get(self, job_id: str) -> Job | None:
        with self._read() as db:
            found = db.execute(_NEWEST, (job_id,)).fetchone()
            return None if found is None else _job(found)

    def pending(self) -> list[Job]:
        with self._read() as db:
            return [_job(r) for r in db.execute(_IN_STATE, (JobState.PENDING.value,))]

    def running(self) -> list[Job]:
        with self._read() as db:
            return [_job(r) for r in db.execute(_IN_STATE, (JobState.IN_PROGRESS.value,))]

    def queue_items(self) -> tuple[list[QueueItem], list[QueueItem]]:
        with self._read() as db:
            cursor = db.cursor()
            cursor.row_factory = None  # plain tuples: sqlite3.Row would cost more than the query here
            # Run order straight from the covering index jobs_queue, without reading a single row.
            sql = "SELECT number, seq FROM jobs WHERE state = ? ORDER BY number, seq"
            running = cursor.execute(sql, (JobState.IN_PROGRESS.value,)).fetchall()
            pending = cursor.execute(sql, (JobState.PENDING.value,)).fetchall()
            missing = [seq for _, seq in running + pending if seq not in self._items]
            if missing:  # after a restart, or jobs another process added; the JSON stays unparsed text
                rows = cursor.execute(
                    "SELECT seq, number, id, prompt, extra_data, outputs_to_execute FROM jobs"
                    " WHERE seq IN (SELECT value FROM json_each(?))",
                    (_dump(missing),),
                )
                self._items.update((seq, QueueItem(*fields)) for seq, *fields in rows)
            items = {seq: self._items[seq] for _, seq in running + pending}
            self._items = items  # forget every job that left the queue
            return [_renumbered(items[s], n) for n, s in running], [_renumbered(items[s], n) for n, s in pending]

    def change_count(self) -> int:
        with self._lock:
            # data_version changes when another connection (another store, another process) commits.
            others = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            return self._writes << 32 | others

    def counts(self) -> tuple[int, int]:
        pending, running, _ = self.queue_state()
        return pending, running

    def queue_state(self) -> tuple[int, int, bool]:
        with self._read() as db:
            row = db.execute(_ACTIVE_COUNTS).fetchone()  # the counts are kept by triggers (schema v8)
            return int(row[0]), int(row[1]), bool(row[2])

    def history(self, offset: int, limit: int | None) -> list[Job]:
        check_page(offset, limit)
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE {_HISTORY} ORDER BY finished_seq LIMIT ? OFFSET ?",
                (_ALL if limit is None else limit, offset),
            )
            return [_job(r) for r in rows]

    def history_count(self) -> int:
        with self._read() as db:
            return int(db.execute(f"SELECT count(*) FROM jobs WHERE {_HISTORY}").fetchone()[0])

    def delete_history(self, ids: Collection[str] | None) -> int:
        where, args = _id_filter(ids)
        with self._write() as db:
            # Deleting a fold group's listed entry deletes the group.
            gone = db.execute(f"DELETE FROM jobs WHERE {_HISTORY}{where} RETURNING fold_group, folded", args).fetchall()
            self._drop_folded(db, [g["fold_group"] for g in gone if g["fold_group"] is not None and not g["folded"]])
            return len(gone)

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
        states = sorted(states_for(statuses))
        if not states:
            return [], 0
        # Only enum values and fixed column names are formatted into the SQL; the rest is bound.
        where = f"folded = 0 AND state IN ({', '.join('?' * len(states))})"  # a fold group lists its newest
        args: list[Any] = [s.value for s in states]
        if workflow_id is not None:
            where += " AND workflow_id = ?"
            args.append(workflow_id)
        direction = "DESC" if descending else "ASC"
        order = f"{_ORDER[sort_by]} {direction}, seq {direction}"
        with self._read() as db:
            total = int(db.execute(f"SELECT count(*) FROM jobs WHERE {where}", args).fetchone()[0])
            # The page is picked from a covering index (state, sort key, seq) and only its rows are read whole.
            rows = db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM jobs WHERE seq IN"
                f" (SELECT seq FROM jobs WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?) ORDER BY {order}",
                [*args, _ALL if limit is None else limit, offset],
            )
            return [_summary(r) for r in rows], total

    def recover_orphans(self, *, requeue: bool, now_ms: int) -> list[Job]:
        with self._write() as db:
            orphans = [_job(r) for r in db.execute(_IN_STATE, (JobState.IN_PROGRESS.value,))]
            lowest = db.execute("SELECT min(number) FROM jobs WHERE state = 'pending'").fetchone()[0]
            recovered = []
            plans = settle_orphans(orphans, requeue=requeue, lowest_pending=lowest, now_ms=now_ms)
            for job, plan in zip(orphans, plans, strict=True):
                if isinstance(plan, JobResult):
                    recovered.append(self._finish_row(db, job.seq, job.id, plan))
                    continue
                row = db.execute(
                    "UPDATE jobs SET state = 'pending', number = ?, worker_id = NULL, started_ms = NULL,"
                    f" cancel_requested = 0, version = version + 1 WHERE seq = ? RETURNING {_COLUMNS}",
                    (plan, job.seq),
                ).fetchone()
                recovered.append(_job(row))
            return recovered

    def move(self, job_id: str, *, to: str | None = None, before: str | None = None) -> Moved:
        with self._write() as db:
            found = db.execute("SELECT state FROM jobs WHERE id = ? ORDER BY seq DESC LIMIT 1", (job_id,)).fetchone()
            if found is None:
                return Moved(MoveOutcome.JOB_NOT_FOUND)
            if found["state"] != JobState.PENDING.value:
                return Moved(MoveOutcome.JOB_NOT_PENDING)
            if before is not None:
                anchor = db.execute(
                    "SELECT state FROM jobs WHERE id = ? ORDER BY seq DESC LIMIT 1", (before,)
                ).fetchone()
                if anchor is None:
                    return Moved(MoveOutcome.ANCHOR_NOT_FOUND)
                if anchor["state"] != JobState.PENDING.value:
                    return Moved(MoveOutcome.ANCHOR_NOT_PENDING)
            # The whole run order is read inside the write transaction, so no other change slips in between.
            order = [
                (r["id"], r["number"])
                for r in db.execute("SELECT id, number FROM jobs WHERE state = 'pending' ORDER BY number, seq")
            ]
            changes, position = plan_move(order, job_id, to=to, before=before)
            db.executemany(
                "UPDATE jobs SET number = ?, version = version + 1 WHERE id = ? AND +state = 'pending'",
                [(number, i) for i, number in changes.items()],
            )
            return Moved(MoveOutcome.MOVED, changes.get(job_id, dict(order)[job_id]), position)

    def add_batch(
        self,
        batch_id: str,
        jobs: Sequence[NewJob],
        *,
        requested: int,
        max_pending: int,
        answer: AnswerFor | None = None,
    ) -> list[Job]:
        with self._write() as db:
            pending = db.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
            fitting = list(jobs[: max(0, max_pending - int(pending))])
            texts = [_texts(job) for job in fitting]
            added = [
                pending_record(job, self._insert(db, job, given_number(job), texts=text), given_number(job))
                for job, text in zip(fitting, texts, strict=True)
            ]
            db.execute(
                "INSERT INTO batches (id, requested, job_ids, created_ms) VALUES (?, ?, ?, ?)",
                (batch_id, requested, _dump([j.id for j in fitting]), fitting[0].created_ms if fitting else 0),
            )
            if answer is not None:
                self._store_answer(db, answer(added))
        for record, text in zip(added, texts, strict=True):
            self._remember(record, text)
        return added

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        with self._read() as db:
            row = db.execute("SELECT id, requested, job_ids, created_ms FROM batches WHERE id = ?", (batch_id,))
            found = row.fetchone()
        if found is None:
            return None
        return BatchRecord(found[0], int(found[1]), tuple(json.loads(found[2])), int(found[3]))

    def add_repeat(self, repeat: RepeatRecord, job: NewJob, *, answer: AnswerFor | None = None) -> Job:
        with self._write() as db:
            number = float(self._take_number(db)) if job.number is None else job.number
            texts = _texts(job)
            added = pending_record(job, self._insert(db, job, number, texts=texts), number)
            if answer is not None:
                self._store_answer(db, answer([added]))
            db.execute(
                "INSERT INTO repeats (id, state, created_ms, runs, max_runs, current_job, last_job, stop_reason, spec)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _repeat_values(replace(repeat, current_job=job.id)),
            )
        self._remember(added, texts)
        return added

    def get_repeat(self, repeat_id: str) -> RepeatRecord | None:
        with self._read() as db:
            row = db.execute(f"SELECT {_REPEAT_COLUMNS} FROM repeats WHERE id = ?", (repeat_id,)).fetchone()
        return None if row is None else _repeat(row)

    def list_repeats(self) -> list[RepeatRecord]:
        with self._read() as db:
            live = db.execute(
                f"SELECT {_REPEAT_COLUMNS} FROM repeats WHERE state IN ('active', 'idle') ORDER BY created_ms, id"
            ).fetchall()
            ended = db.execute(
                f"SELECT {_REPEAT_COLUMNS} FROM repeats WHERE state IN ('stopped', 'finished')"
                " ORDER BY created_ms DESC, id DESC LIMIT ?",
                (RECENT_ENDED_REPEATS,),
            ).fetchall()
        return [_repeat(r) for r in [*live, *ended]]

    def update_repeat(self, repeat: RepeatRecord, *, expected_job: str | None, job: NewJob | None = None) -> Job | None:
        with self._write() as db:
            found = db.execute("SELECT state, current_job FROM repeats WHERE id = ?", (repeat.id,)).fetchone()
            if found is None or found["state"] not in ("active", "idle") or found["current_job"] != expected_job:
                raise RepeatConflict(repeat.id)
            added, texts = None, None
            if job is not None:
                number = float(self._take_number(db)) if job.number is None else job.number
                texts = _texts(job)
                added = pending_record(job, self._insert(db, job, number, texts=texts), number)
                repeat = replace(repeat, current_job=job.id)
            db.execute(
                "UPDATE repeats SET state = ?, created_ms = ?, runs = ?, max_runs = ?, current_job = ?, last_job = ?,"
                " stop_reason = ?, spec = ? WHERE id = ?",
                (*_repeat_values(repeat)[1:], repeat.id),
            )
            # Ended repeats beyond the most recent ones are forgotten.
            db.execute(
                "DELETE FROM repeats WHERE state IN ('stopped', 'finished') AND id NOT IN (SELECT id FROM repeats"
                " WHERE state IN ('stopped', 'finished') ORDER BY created_ms DESC, id DESC LIMIT ?)",
                (RECENT_ENDED_REPEATS,),
            )
        if added is None or texts is None:
            return None
        self._remember(added, texts)
        return added

    def set_paused(self, paused: bool) -> None:
        with self._write() as db:
            db.execute("UPDATE settings SET value = ? WHERE name = 'paused'", (int(paused),))

    def is_paused(self) -> bool:
        with self._read() as db:
            return bool(db.execute("SELECT value FROM settings WHERE name = 'paused'").fetchone()[0])

    def uncontended(self) -> AbstractContextManager[bool]:
        return uncontended(self._lock)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> SqliteJobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
