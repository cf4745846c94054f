"""Schema migrations of the SQLite job store, ordered and keyed by `PRAGMA user_version`.

Each migration runs in its own `BEGIN IMMEDIATE` transaction, together with the `user_version` bump, and the
migrator commits it; a migration only executes statements (never `commit`, never `executescript`, which
commits first). A failing migration rolls back whole, leaving the database at the previous version.

A migration's SQL is history: it spells states as the literal strings they had when it was written, and it is
never edited once released; later changes are new migrations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  # the user_version the database has after this migration
    description: str
    apply: Callable[[sqlite3.Connection], None]


class MigrationError(Exception):
    """The database cannot be brought to this code's schema."""

    def __init__(self, message: str, *, found: int, latest: int) -> None:
        super().__init__(message)
        self.found = found
        self.latest = latest


def _v1_tables(db: sqlite3.Connection) -> None:
    # One row per job run. seq is the rowid: AUTOINCREMENT so a seq is never reused, even after its row is
    # pruned, which keeps submission order (the tie-break of `number`) monotonic for the life of the file.
    # `number` has no declared type (BLOB affinity), so an int stays an int and a float a float, exactly as
    # assigned; SQLite still compares INTEGER and REAL numerically. JSON columns hold text as the store wrote it.
    db.execute(
        """CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL,
            number NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('pending', 'in_progress', 'completed', 'failed', 'cancelled', 'interrupted', 'removed')),
            prompt TEXT NOT NULL,
            extra_data TEXT NOT NULL,
            outputs_to_execute TEXT NOT NULL,
            client_id TEXT,
            workflow_id TEXT,
            created_ms INTEGER NOT NULL,
            started_ms INTEGER,
            ended_ms INTEGER,
            worker_id TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            stop_reason TEXT,
            outputs TEXT NOT NULL DEFAULT '{}',
            meta TEXT NOT NULL DEFAULT '{}',
            messages TEXT NOT NULL DEFAULT '[]',
            status_str TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            finished_seq INTEGER
        )"""
    )
    # Every index on `jobs` ends in the rowid, which is seq: an index on (state, number) is ordered by
    # (state, number, seq), run order within a state.
    # The duplicate rule as a constraint: at most one pending or running row per id, whatever the code does.
    db.execute("CREATE UNIQUE INDEX jobs_active_id ON jobs (id) WHERE state IN ('pending', 'in_progress')")
    # get/cancel read the newest row of an id: (id, seq).
    db.execute("CREATE INDEX jobs_id ON jobs (id)")
    # claim_next, GET /queue and the counts read pending and running jobs in run order, with no sort.
    db.execute("CREATE INDEX jobs_queue ON jobs (state, number)")
    # Tombstones are pruned in submission order: (state, seq).
    db.execute("CREATE INDEX jobs_state ON jobs (state)")
    # finished_seq is set exactly on history rows, so this index gives history its filter, order and pruning.
    db.execute("CREATE INDEX jobs_history ON jobs (finished_seq)")
    # Counters that must outlive every row: the priority counter and the completion order.
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO counters (name, value) VALUES ('number', 0), ('finished_seq', 0)")
    # Queue settings that survive a restart: the paused flag.
    db.execute("CREATE TABLE settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO settings (name, value) VALUES ('paused', 0)")


def _v2_jobs_api_indexes(db: sqlite3.Connection) -> None:
    # The Jobs API sorts by execution duration; a VIRTUAL generated column costs no storage and can be indexed
    # (a STORED one could not be added by ALTER TABLE).
    db.execute(
        "ALTER TABLE jobs ADD COLUMN duration_ms INTEGER"
        " GENERATED ALWAYS AS (coalesce(ended_ms - started_ms, 0)) VIRTUAL"
    )
    # Covering indexes, (state, sort key, seq), for a page: filter and sort without touching the wide rows,
    # which are read for the page only (GET /api/jobs must answer in 20 ms with 10,000 jobs stored).
    db.execute("CREATE INDEX jobs_by_created ON jobs (state, created_ms)")
    db.execute("CREATE INDEX jobs_by_duration ON jobs (state, duration_ms)")
    db.execute("CREATE INDEX jobs_by_workflow ON jobs (workflow_id, state, created_ms)")


def _v3_batches(db: sqlite3.Connection) -> None:
    # A server-side batch: how many runs were asked for and which jobs were queued, in item order.
    db.execute(
        "CREATE TABLE batches (id TEXT PRIMARY KEY, requested INTEGER NOT NULL, job_ids TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL) WITHOUT ROWID"
    )


def _v4_row_counts(db: sqlite3.Connection) -> None:
    # How many history entries and tombstones exist, kept by triggers in the same statement as every change,
    # whatever code (or process) makes it: pruning then deletes just the excess, oldest first, instead of
    # walking history_max index entries on every finished job.
    db.execute(
        "INSERT INTO counters (name, value) VALUES"
        " ('history_rows', (SELECT count(*) FROM jobs WHERE finished_seq > 0)),"
        " ('tombstones', (SELECT count(*) FROM jobs WHERE state = 'removed'))"
    )
    history, removed = "{row}.finished_seq > 0", "{row}.state = 'removed'"
    for name, condition in (("history_rows", history), ("tombstones", removed)):
        _counting_triggers(db, name, condition, "state, finished_seq")


def _counting_triggers(db: sqlite3.Connection, name: str, condition: str, columns: str) -> None:
    """Triggers that keep the counter `name` equal to the number of jobs rows where `condition` holds, in the
    same statement as every insert, delete and update of `columns` (`condition` names the row as {row})."""
    new, old = condition.format(row="NEW"), condition.format(row="OLD")
    db.execute(
        f"CREATE TRIGGER count_{name}_insert AFTER INSERT ON jobs WHEN {new}"
        f" BEGIN UPDATE counters SET value = value + 1 WHERE name = '{name}'; END"
    )
    db.execute(
        f"CREATE TRIGGER count_{name}_delete AFTER DELETE ON jobs WHEN {old}"
        f" BEGIN UPDATE counters SET value = value - 1 WHERE name = '{name}'; END"
    )
    # coalesce: a NULL finished_seq compares as NULL, which is neither true nor false.
    db.execute(
        f"CREATE TRIGGER count_{name}_update AFTER UPDATE OF {columns} ON jobs"
        f" WHEN coalesce({new}, 0) <> coalesce({old}, 0)"
        f" BEGIN UPDATE counters SET value = value + coalesce({new}, 0) - coalesce({old}, 0)"
        f" WHERE name = '{name}'; END"
    )


def _v5_repeats(db: sqlite3.Connection) -> None:
    # A server-side repeat. `spec` is the server's JSON (prompt, seed rules, options); the columns are what the
    # store itself filters and orders on.
    db.execute(
        """CREATE TABLE repeats (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('active', 'idle', 'stopped', 'finished')),
            created_ms INTEGER NOT NULL,
            runs INTEGER NOT NULL DEFAULT 0,
            max_runs INTEGER,
            current_job TEXT,
            last_job TEXT,
            stop_reason TEXT,
            spec TEXT NOT NULL
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX repeats_by_state ON repeats (state, created_ms)")


def _v6_answers(db: sqlite3.Connection) -> None:
    # The answers of requests made with an Idempotency-Key, kept until they expire.
    db.execute(
        "CREATE TABLE answers (key TEXT PRIMARY KEY, body_hash TEXT NOT NULL, status INTEGER NOT NULL,"
        " body TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX answers_by_expiry ON answers (expires_ms)")


def _v7_fold_groups(db: sqlite3.Connection) -> None:
    # No-op repeats (execution.md §8.5): a fold group is the run that executed and the identical all-cached
    # runs of the same client after it. Every member keeps its history row and its `fold_group` (the first
    # member's id); all but the newest are `folded`, hidden from the Jobs API lists and not counted towards
    # history_max, so the history_rows counter now counts unfolded history rows only.
    db.execute("ALTER TABLE jobs ADD COLUMN fold_group TEXT")
    db.execute("ALTER TABLE jobs ADD COLUMN folded INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX jobs_fold_group ON jobs (fold_group, finished_seq) WHERE fold_group IS NOT NULL")
    for index, columns in (
        ("jobs_by_created", "state, created_ms"),
        ("jobs_by_duration", "state, duration_ms"),
        ("jobs_by_workflow", "workflow_id, state, created_ms"),
    ):
        db.execute(f"DROP INDEX {index}")
        db.execute(f"CREATE INDEX {index} ON jobs (folded, {columns})")
    for event in ("insert", "delete", "update"):
        db.execute(f"DROP TRIGGER count_history_rows_{event}")
    unfolded_history = "({row}.finished_seq > 0 AND {row}.folded = 0)"
    _counting_triggers(db, "history_rows", unfolded_history, "state, finished_seq, folded")


def _v8_active_counts(db: sqlite3.Connection) -> None:
    # How many jobs are pending and in progress, kept by triggers like the v4 counts: the queue counts every
    # `status` message carries (and the queue-size check of every submission) are then two rows read, not
    # an index walk that grows with the queue.
    db.execute(
        "INSERT INTO counters (name, value) VALUES"
        " ('pending', (SELECT count(*) FROM jobs WHERE state = 'pending')),"
        " ('in_progress', (SELECT count(*) FROM jobs WHERE state = 'in_progress'))"
    )
    for name in ("pending", "in_progress"):
        _counting_triggers(db, name, f"({{row}}.state = '{name}')", "state")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "jobs, counters and settings tables", _v1_tables),
    Migration(2, "indexes for the Jobs API list", _v2_jobs_api_indexes),
    Migration(3, "server-side batches", _v3_batches),
    Migration(4, "history and tombstone counts kept by triggers", _v4_row_counts),
    Migration(5, "server-side repeats", _v5_repeats),
    Migration(6, "answers of idempotent requests", _v6_answers),
    Migration(7, "fold groups of no-op repeats", _v7_fold_groups),
    Migration(8, "pending and in-progress counts kept by triggers", _v8_active_counts),
)
LATEST_VERSION = MIGRATIONS[-1].version


def user_version(db: sqlite3.Connection) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every migration newer than the database's `user_version`; returns the version reached.

    `db` must be in autocommit mode (`isolation_level=None`), so the transactions here are the only ones.
    Raises `MigrationError` for a database newer than the newest migration.
    """
    if db.isolation_level is not None:
        raise ValueError("migrate needs a connection opened with isolation_level=None")
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3, ... in order, got {versions}")
    latest = versions[-1] if versions else 0
    found = user_version(db)
    if found > latest:
        raise MigrationError(
            f"the job store has schema version {found}, newer than this impasto knows ({latest})",
            found=found,
            latest=latest,
        )
    for migration in migrations:
        # IMMEDIATE takes the write lock before reading the version, so two processes opening the same file
        # at once apply each migration exactly once.
        db.execute("BEGIN IMMEDIATE")
        try:
            if user_version(db) < migration.version:
                migration.apply(db)
                # user_version lives in the database header and is part of this transaction.
                db.execute(f"PRAGMA user_version = {int(migration.version)}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return user_version(db)
