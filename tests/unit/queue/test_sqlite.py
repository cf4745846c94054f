"""What only the SQLite store promises: persistence, crash durability, start-up recovery, migrations."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from impasto.queue import LATEST_VERSION, JobResult, JobState, MigrationError, NewJob, SqliteJobStore
from impasto.queue.migrations import MIGRATIONS, Migration, migrate, user_version

# Adds (and with "claim" also claims) one job, reports it, then blocks until the parent kills it with SIGKILL.
CHILD = """
import sys
from dataclasses import replace
from pathlib import Path
from impasto.queue import NewJob, SqliteJobStore
store = SqliteJobStore(Path(sys.argv[1]))
job = store.add(NewJob("killed", store.next_number(), {"1": {"class_type": "X", "inputs": {}}}, {}, ["1"], None, 1000))
if sys.argv[2] == "claim":
    store.claim_next("w0", 2000)
print(job.id, flush=True)
sys.stdin.read()
"""


def new_job(job_id: str, number: float, **extra) -> NewJob:
    return NewJob(job_id, number, {"1": {"class_type": "X", "inputs": {}}}, {"client_id": "c", **extra}, ["1"], "c", 10)


def done(job_id: str) -> JobResult:
    messages = [["execution_start", {"prompt_id": job_id, "timestamp": 1}]]
    return JobResult(JobState.COMPLETED, {"1": {"text": ["hi"]}}, {"1": {"node_id": "1"}}, messages, "success", 5)


def kill_after_commit(path: Path, mode: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "killed"  # printed only after add (and claim) committed
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


def test_everything_persists_across_close_and_reopen(tmp_path):
    path = tmp_path / "q.db"
    with SqliteJobStore(path) as store:
        store.add(new_job("h", store.next_number()))
        store.claim_next("w0", 1)
        finished = store.finish("h", done("h"))
        for job_id in ["a", "b"]:
            store.add(new_job(job_id, store.next_number()))
        store.add(new_job("front", -store.next_number()))
        store.add(new_job("explicit", 1.5))
        before = store.pending()
        store.set_paused(True)
    with SqliteJobStore(path) as store:
        assert store.pending() == before
        assert [(j.id, j.number) for j in before] == [("front", -3), ("a", 1), ("explicit", 1.5), ("b", 2)]
        assert store.next_number() == 4
        assert store.is_paused() is True
        assert store.history(0, None) == [finished]
        added = store.add(new_job("later", 9))
        assert added.seq > max(j.seq for j in before)


def test_numbers_keep_their_type(tmp_path):
    with SqliteJobStore(tmp_path / "q.db") as store:
        store.add(new_job("int", 3))
        store.add(new_job("float", 3.0))
    with SqliteJobStore(tmp_path / "q.db") as store:
        assert [(type(i.number), i.id) for i in store.queue_items()[1]] == [(int, "int"), (float, "float")]


def test_a_job_committed_just_before_kill_9_survives(tmp_path):
    path = tmp_path / "q.db"
    kill_after_commit(path, "add")
    with SqliteJobStore(path) as store:
        assert [(j.id, j.number, j.state) for j in store.pending()] == [("killed", 0, JobState.PENDING)]
        assert store.next_number() == 1


@pytest.mark.parametrize("requeue", [False, True])
def test_a_job_running_when_the_server_died_is_recovered(tmp_path, requeue):
    path = tmp_path / "q.db"
    kill_after_commit(path, "claim")
    with SqliteJobStore(path) as store:
        assert [j.id for j in store.running()] == ["killed"]
        [job] = store.recover_orphans(requeue=requeue, now_ms=7000)
        assert store.running() == []
        if requeue:
            assert [j.id for j in store.pending()] == ["killed"] and job.state is JobState.PENDING
            assert store.history_count() == 0
        else:
            assert (job.state, job.stop_reason, job.ended_ms) == (JobState.INTERRUPTED, "server_restarted", 7000)
            assert job.messages[0] == ["execution_start", {"prompt_id": "killed", "timestamp": 2000}]
            assert store.history(0, None) == [job]
    with SqliteJobStore(path) as store:  # the recovery itself was committed
        assert store.get("killed") == job


def test_two_stores_on_one_file_never_claim_the_same_job(tmp_path):
    path = tmp_path / "q.db"
    with SqliteJobStore(path) as first, SqliteJobStore(path) as second:
        for i in range(40):
            first.add(new_job(f"j{i}", i))
        barrier = threading.Barrier(2)
        claimed: dict[str, list[str]] = {"first": [], "second": []}

        def worker(name: str, store: SqliteJobStore) -> None:
            barrier.wait()
            while (job := store.claim_next(name, 0)) is not None:
                claimed[name].append(job.id)

        threads = [threading.Thread(target=worker, args=item) for item in [("first", first), ("second", second)]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed["first"] + claimed["second"]) == sorted(f"j{i}" for i in range(40))
        assert first.counts() == (0, 40)


def test_extra_data_is_stored_as_given(tmp_path):
    # Stripping auth_token_comfy_org / api_key_comfy_org is the server's job, before add.
    with SqliteJobStore(tmp_path / "q.db") as store:
        store.add(new_job("a", 0, api_key_comfy_org="secret"))
        job = store.get("a")
        assert job is not None and job.extra_data["api_key_comfy_org"] == "secret"


def test_a_file_store_uses_wal_and_the_latest_schema(tmp_path):
    SqliteJobStore(tmp_path / "q.db").close()
    db = sqlite3.connect(tmp_path / "q.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert user_version(db) == LATEST_VERSION == len(MIGRATIONS)
    finally:
        db.close()


def test_close_is_idempotent():
    store = SqliteJobStore(None)
    store.close()
    store.close()


def open_at_version(path: Path, version: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, MIGRATIONS[:version])
    return db


def test_an_old_database_is_upgraded_with_its_rows(tmp_path):
    path = tmp_path / "q.db"
    db = open_at_version(path, 1)
    try:
        assert user_version(db) == 1
        db.execute(
            "INSERT INTO jobs (id, number, state, prompt, extra_data, outputs_to_execute, created_ms, started_ms,"
            " ended_ms, status_str, finished_seq) VALUES ('old', 4, 'completed', '{}', '{}', '[]', 1, 10, 40,"
            " 'success', 1), ('older', 3, 'failed', '{}', '{}', '[]', 2, 10, 90, 'error', 2)"
        )
        db.execute("UPDATE counters SET value = 5 WHERE name = 'number'")
    finally:
        db.close()
    with SqliteJobStore(path) as store:
        jobs, total = store.list_jobs(["completed", "failed"], sort_by="execution_duration")
        assert ([j.id for j in jobs], total) == (["older", "old"], 2)
        assert store.next_number() == 5
    db = sqlite3.connect(path)
    try:
        assert user_version(db) == LATEST_VERSION
    finally:
        db.close()


def row_counts(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(history rows, tombstones) as the trigger-kept counters say, and as counted."""
    db = sqlite3.connect(path)
    try:
        kept = dict(db.execute("SELECT name, value FROM counters").fetchall())
        history = db.execute("SELECT count(*) FROM jobs WHERE finished_seq > 0").fetchone()[0]
        tombstones = db.execute("SELECT count(*) FROM jobs WHERE state = 'removed'").fetchone()[0]
    finally:
        db.close()
    return (kept["history_rows"], kept["tombstones"]), (history, tombstones)


def test_the_trigger_kept_counts_follow_every_kind_of_change(tmp_path):
    path = tmp_path / "q.db"
    with SqliteJobStore(path, history_max=3) as store:
        for i in range(5):
            store.add(new_job(f"j{i}", i))
            assert store.claim_next("w", 1) is not None
            store.finish(f"j{i}", done(f"j{i}"))
        store.add(new_job("j4", 9))  # a re-run: its old entry stays until it finishes
        for name in ["p", "q"]:
            store.add(new_job(name, 10))
        store.delete_pending(["p"])
        store.cancel("q")
        store.delete_history(["j2"])
        counted = row_counts(path)
        assert counted[0] == counted[1] == (2, 2)
        assert store.claim_next("w", 1) is not None
        store.finish("j4", done("j4"))
        store.delete_history(None)
    counted = row_counts(path)
    assert counted[0] == counted[1] == (0, 2)


def active_counts(path: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(pending, in progress) as the trigger-kept counters say, and as counted."""
    db = sqlite3.connect(path)
    try:
        kept = dict(db.execute("SELECT name, value FROM counters").fetchall())
        counted = [db.execute("SELECT count(*) FROM jobs WHERE state = ?", (s,)).fetchone()[0] for s in STATES]
    finally:
        db.close()
    return (kept["pending"], kept["in_progress"]), (counted[0], counted[1])


STATES = ("pending", "in_progress")


def test_the_pending_and_running_counts_follow_every_kind_of_change(tmp_path):
    path = tmp_path / "q.db"
    with SqliteJobStore(path) as store:
        for i in range(6):
            store.add(new_job(f"j{i}", i), front=i % 2 == 1)
        assert store.counts() == (6, 0)
        store.claim_next("w", 1)
        store.claim_next("w", 1)
        assert store.counts() == (4, 2) and active_counts(path)[0] == (4, 2)
        running = [job.id for job in store.running()]
        store.finish(running[0], done(running[0]))
        store.cancel(running[1])  # requested: still running
        pending = [job.id for job in store.pending()]
        store.cancel(pending[0])
        store.delete_pending([pending[1]])
        store.move(pending[3], to="front")
        assert store.counts() == (2, 1)
        store.clear_queue(include_running=False)
        assert store.counts() == (0, 1)
        store.add(new_job("later", 20))
    with SqliteJobStore(path) as store:
        store.recover_orphans(requeue=True, now_ms=5)  # the running one was cancelled: interrupted, not requeued
        assert store.counts() == (1, 0)
    counted = active_counts(path)
    assert counted[0] == counted[1] == (1, 0)


def test_an_upgrade_to_v8_counts_the_active_jobs_already_there(tmp_path):
    path = tmp_path / "q.db"
    db = open_at_version(path, 7)
    try:
        db.execute(
            "INSERT INTO jobs (id, number, state, prompt, extra_data, outputs_to_execute, created_ms)"
            " VALUES ('a', 1, 'pending', '{}', '{}', '[]', 1), ('b', 2, 'pending', '{}', '{}', '[]', 1),"
            " ('c', 3, 'in_progress', '{}', '{}', '[]', 1), ('d', 4, 'completed', '{}', '{}', '[]', 1)"
        )
    finally:
        db.close()
    with SqliteJobStore(path) as store:
        assert store.counts() == (2, 1)
    counted = active_counts(path)
    assert counted[0] == counted[1] == (2, 1)


def test_an_upgrade_to_v4_counts_the_rows_already_there(tmp_path):
    path = tmp_path / "q.db"
    db = open_at_version(path, 3)
    try:
        db.execute(
            "INSERT INTO jobs (id, number, state, prompt, extra_data, outputs_to_execute, created_ms, finished_seq)"
            " VALUES ('a', 1, 'completed', '{}', '{}', '[]', 1, 1), ('b', 2, 'removed', '{}', '{}', '[]', 1, NULL),"
            " ('c', 3, 'pending', '{}', '{}', '[]', 1, NULL)"
        )
    finally:
        db.close()
    with SqliteJobStore(path):
        pass
    counted = row_counts(path)
    assert counted[0] == counted[1] == (1, 1)


def test_a_database_newer_than_the_code_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "q.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(MigrationError) as raised:
        SqliteJobStore(tmp_path / "q.db")
    assert (raised.value.found, raised.value.latest) == (99, LATEST_VERSION)


def test_a_failing_migration_rolls_back_whole(tmp_path):
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("migration failed")

    db = sqlite3.connect(tmp_path / "q.db", isolation_level=None)
    try:
        with pytest.raises(RuntimeError):
            migrate(db, [*MIGRATIONS[:1], Migration(2, "broken", broken)])
        assert user_version(db) == 1
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
        assert migrate(db) == LATEST_VERSION  # the real migration 2 still applies afterwards
    finally:
        db.close()


def test_migrations_must_be_numbered_in_order(tmp_path):
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with pytest.raises(ValueError, match="numbered"):
            migrate(db, [MIGRATIONS[1]])
    finally:
        db.close()


def test_queue_items_see_what_another_store_on_the_file_changed(tmp_path):
    path = tmp_path / "q.db"
    with SqliteJobStore(path) as mine, SqliteJobStore(path) as theirs:
        mine.add(new_job("a", 5))
        assert [i.id for i in mine.queue_items()[1]] == ["a"]
        theirs.add(new_job("b", 1))
        theirs.claim_next("w1", 0)
        theirs.add(new_job("c", 9))
        theirs.delete_pending(["a"])
        running, pending = mine.queue_items()
        assert ([i.id for i in running], [i.id for i in pending]) == (["b"], ["c"])
        theirs.add(new_job("front", -3))
        theirs.recover_orphans(requeue=True, now_ms=0)  # b goes back, ahead of the front item
        running, pending = mine.queue_items()
        assert running == [] and [(i.id, i.number) for i in pending] == [("b", -4), ("front", -3), ("c", 9)]


def test_the_change_count_stays_while_nothing_changes_and_sees_other_stores(tmp_path):
    with SqliteJobStore(tmp_path / "q.db") as mine, SqliteJobStore(tmp_path / "q.db") as other:
        before = mine.change_count()
        mine.queue_items()
        mine.counts()
        assert mine.change_count() == before  # reads change nothing
        other.add(new_job("from-elsewhere", 1))
        assert mine.change_count() != before


def test_commits_reach_the_database_file_through_the_stores_own_checkpoints(tmp_path):
    # The store's connection never checkpoints in a commit (some commits are made on the server's event loop);
    # its checkpoint thread copies the WAL into the database file soon after.
    path = tmp_path / "queue.db"
    with SqliteJobStore(path) as store:
        for index in range(5):
            store.add(new_job(f"j{index}", index))
        deadline = time.monotonic() + 20
        while jobs_in_the_file(path) < 5:
            assert time.monotonic() < deadline, "nothing was checkpointed"
            time.sleep(0.05)
        assert store.get("j4") is not None


def jobs_in_the_file(path: Path) -> int:
    """The jobs the database file itself holds (what a checkpoint copied there), ignoring the WAL."""
    file_only = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return int(file_only.execute("SELECT count(*) FROM jobs").fetchone()[0])
    except sqlite3.OperationalError:  # not even the schema has been copied yet
        return 0
    finally:
        file_only.close()


def vm_steps(store: SqliteJobStore, call) -> int:
    """SQLite virtual-machine steps a store call takes: a count of work that does not depend on the machine."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._db.set_progress_handler(count, 1)
    try:
        call()
    finally:
        store._db.set_progress_handler(None, 1)
    return steps


def test_the_per_job_calls_do_not_grow_with_the_queue_or_the_history(tmp_path):
    # Each call a submission or a finished job makes must touch a bounded number of rows, whatever the store
    # holds: a query plan that walks an index (the pending count, a state index picked for a lookup by id, an
    # index led by `folded` picked for a fold group or for pruning) would make them grow with it.
    def cycle_steps(store: SqliteJobStore, tag: str) -> list[int]:
        added = vm_steps(store, lambda: store.add(new_job(tag, -1e9), max_pending=100_000))  # runs first
        counted = vm_steps(store, store.counts)
        store.set_paused(False)
        claimed = vm_steps(store, lambda: store.claim_next("w", 1))
        finished = vm_steps(store, lambda: store.finish(tag, done(tag)))
        store.add(new_job(f"{tag}-again", -1e9))  # an all-cached re-run, folded into the run before
        store.claim_next("w", 1)
        again = replace(done(f"{tag}-again"), fold_into=tag)
        folded = vm_steps(store, lambda: store.finish(f"{tag}-again", again))
        store.set_paused(True)
        return [added, counted, claimed, finished, folded]

    with SqliteJobStore(tmp_path / "q.db", history_max=2000) as store:
        store.set_paused(True)
        small = cycle_steps(store, "first")
        for index in range(3000):
            store.add(new_job(f"p{index}", index))
        for index in range(3000):
            store.add(new_job(f"r{index}", index))
            store.cancel(f"r{index}")  # a tombstone
        for index in range(2000):  # the history reaches its cap: from now on each finished job prunes one
            store.add(new_job(f"h{index}", -1))
            store.set_paused(False)
            store.claim_next("w", 1)
            store.set_paused(True)
            store.finish(f"h{index}", done(f"h{index}"))
        large = cycle_steps(store, "second")
        second = store.get("second-again")
        assert second is not None and second.state is JobState.COMPLETED
        assert store.get("first") is None and store.get("h0") is None  # the oldest entries were pruned on the way
    assert all(big <= 2 * few + 300 for big, few in zip(large, small, strict=True)), (small, large)
