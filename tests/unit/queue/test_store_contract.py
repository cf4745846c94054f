"""The JobStore contract, run against every implementation (impasto.queue.store; execution.md §4, §11)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from impasto.queue import (
    FOLD_GROUP_MAX,
    CancelOutcome,
    DuplicateJobError,
    Job,
    JobResult,
    JobState,
    JobStore,
    MemoryJobStore,
    Moved,
    MoveOutcome,
    NewJob,
    QueueFullError,
    RepeatConflict,
    RepeatRecord,
    RepeatState,
    SqliteJobStore,
)

MakeStore = Callable[..., JobStore]
FINISHED = [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED]
ERROR = {"prompt_id": "?", "node_id": "3", "node_type": "KSampler", "exception_message": "boom", "timestamp": 5}


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    stores: list[JobStore] = []

    def make(*, history_max: int = 10_000) -> JobStore:
        store: JobStore
        if request.param == "sqlite-file":
            store = SqliteJobStore(tmp_path / f"q{len(stores)}.db", history_max=history_max)
        elif request.param == "sqlite-memory":
            store = SqliteJobStore(None, history_max=history_max)
        else:
            store = MemoryJobStore(history_max=history_max)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: MakeStore) -> JobStore:
    return make_store()


def new_job(job_id: str, number: float | None = 0, *, created_ms: int = 1000, workflow_id: str | None = None) -> NewJob:
    prompt = {"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": job_id}}}
    extra = {"client_id": "c1", "create_time": created_ms, "extra_pnginfo": {"workflow": {"id": workflow_id}}}
    return NewJob(job_id, number, prompt, extra, ["9"], "c1", created_ms, workflow_id)


def add(store: JobStore, job_id: str, number: float | None = None, **kwargs) -> Job:
    return store.add(new_job(job_id, store.next_number() if number is None else number, **kwargs))


def result(job_id: str, state: JobState, ended_ms: int = 3000) -> JobResult:
    start = ["execution_start", {"prompt_id": job_id, "timestamp": 2000}]
    if state is JobState.COMPLETED:
        outputs = {"9": {"images": [{"filename": f"{job_id}.png", "subfolder": "", "type": "output"}]}}
        messages = [start, ["execution_success", {"prompt_id": job_id, "timestamp": ended_ms}]]
        return JobResult(state, outputs, {"9": {"node_id": "9"}}, messages, "success", ended_ms)
    if state is JobState.FAILED:
        return JobResult(state, {}, {}, [start, ["execution_error", {**ERROR, "prompt_id": job_id}]], "error", ended_ms)
    if state in (JobState.CANCELLED, JobState.INTERRUPTED):
        stop = ["execution_interrupted", {"prompt_id": job_id, "node_id": "3", "timestamp": ended_ms}]
        return JobResult(state, {}, {}, [start, stop], "error", ended_ms, "interrupted")
    return JobResult(state, {}, {}, [], None, ended_ms)


def claim(store: JobStore, job_id: str, now_ms: int = 2000) -> Job:
    job = store.claim_next("w0", now_ms)
    assert job is not None and job.id == job_id
    return job


def run(store: JobStore, job_id: str, state: JobState = JobState.COMPLETED, *, started: int = 2000, ended: int = 3000,
        **kwargs) -> Job:  # fmt: skip
    """Add, claim and finish one job; the queue must hold nothing that runs before it."""
    add(store, job_id, **kwargs)
    claim(store, job_id, started)
    finished = store.finish(job_id, result(job_id, state, ended))
    assert finished is not None
    return finished


def drain(store: JobStore) -> list[str]:
    claimed = []
    while (job := store.claim_next("w0", 0)) is not None:
        claimed.append(job.id)
    return claimed


# --- counter and add ---------------------------------------------------------------------------------------


def test_the_counter_starts_at_zero_and_only_goes_up(store):
    assert [store.next_number() for _ in range(4)] == [0, 1, 2, 3]
    add(store, "a", number=100)  # an explicit number does not move the counter
    assert store.next_number() == 4


def test_add_stores_a_pending_job_as_given(store):
    job = store.add(new_job("a", 7, created_ms=1234, workflow_id="wf"))
    assert job.state is JobState.PENDING
    assert (job.id, job.number, job.created_ms, job.workflow_id, job.client_id) == ("a", 7, 1234, "wf", "c1")
    assert job.prompt == new_job("a").prompt
    assert job.extra_data["extra_pnginfo"] == {"workflow": {"id": "wf"}}
    assert job.outputs_to_execute == ["9"]
    assert (job.started_ms, job.ended_ms, job.worker_id, job.status_str, job.finished_seq) == (None,) * 5
    assert (job.cancel_requested, job.outputs, job.meta, job.messages, job.version) == (False, {}, {}, [], 1)
    assert store.get("a") == job


def test_add_without_a_number_takes_the_next_one_in_the_same_call(store):
    assert store.next_number() == 0
    back = store.add(new_job("back", None))
    front = store.add(new_job("front", None), front=True)
    given = store.add(new_job("given", 0.5), front=True)  # an explicit number is used as given
    assert (back.number, front.number, given.number) == (1, -2, 0.5)
    assert store.next_number() == 3
    assert [j.id for j in store.pending()] == ["front", "given", "back"]


def test_a_rejected_add_takes_no_number_and_changes_nothing(store):
    store.add(new_job("a", None))
    with pytest.raises(DuplicateJobError):
        store.add(new_job("a", None))
    with pytest.raises(QueueFullError) as full:
        store.add(new_job("b", None), max_pending=1)
    assert full.value.max_pending == 1
    assert [j.id for j in store.pending()] == ["a"]
    assert store.next_number() == 1
    assert store.add(new_job("b", None), max_pending=2).number == 2


def test_seq_follows_submission_order(store):
    seqs = [add(store, name).seq for name in "abc"]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_the_store_keeps_its_own_copy_of_json_values(store):
    submitted = new_job("a")
    returned = store.add(submitted)
    submitted.prompt["9"]["inputs"]["filename_prefix"] = "changed"
    returned.extra_data["client_id"] = "changed"
    job = store.get("a")
    assert job is not None
    assert job.prompt["9"]["inputs"]["filename_prefix"] == "a"
    assert job.extra_data["client_id"] == "c1"


def test_an_id_that_is_pending_or_running_is_a_duplicate(store):
    add(store, "a")
    with pytest.raises(DuplicateJobError) as raised:
        add(store, "a")
    assert raised.value.job_id == "a"
    claim(store, "a")
    with pytest.raises(DuplicateJobError):
        add(store, "a")
    assert store.counts() == (0, 1)


def test_a_finished_id_runs_again_and_replaces_its_entry_when_done(store):
    first = run(store, "a")
    run(store, "b")
    again = add(store, "a")
    assert store.get("a") == again  # the newest row of the id
    assert [j.id for j in store.history(0, None)] == ["a", "b"]  # the old entry stays until the rerun ends
    claim(store, "a")
    done = store.finish("a", result("a", JobState.FAILED))
    assert done is not None and first.finished_seq is not None and done.finished_seq is not None
    assert done.finished_seq > first.finished_seq
    assert [(j.id, j.state) for j in store.history(0, None)] == [("b", JobState.COMPLETED), ("a", JobState.FAILED)]
    assert store.history_count() == 2


def test_a_removed_id_can_be_queued_again(store):
    add(store, "a")
    store.cancel("a")
    job = add(store, "a")
    assert store.get("a") == job
    assert store.cancel("a").was is JobState.PENDING


# --- run order and claiming -----------------------------------------------------------------------------------


def test_jobs_run_by_number_then_submission_order(store):
    for job_id, number in [("a", 5), ("b", 1), ("c", 3), ("d", 1), ("e", 2.5)]:
        add(store, job_id, number)
    assert [j.id for j in store.pending()] == ["b", "d", "e", "c", "a"]
    assert drain(store) == ["b", "d", "e", "c", "a"]


def test_front_items_run_first_and_last_in_first_out(store):
    add(store, "a")
    add(store, "b")
    add(store, "front1", -store.next_number())
    add(store, "front2", -store.next_number())
    assert drain(store) == ["front2", "front1", "a", "b"]


def test_claim_marks_the_first_job_in_progress_for_the_worker(store):
    assert store.claim_next("w0", 10) is None
    added = add(store, "a")
    add(store, "b")
    job = store.claim_next("w1", 2500)
    assert job is not None
    assert (job.id, job.state, job.worker_id, job.started_ms, job.version) == ("a", JobState.IN_PROGRESS, "w1", 2500, 2)
    assert job.prompt == added.prompt
    assert [j.id for j in store.running()] == ["a"]
    assert [j.id for j in store.pending()] == ["b"]


def test_a_paused_queue_hands_out_nothing(store):
    assert store.is_paused() is False
    add(store, "a")
    store.set_paused(True)
    assert store.is_paused() is True
    assert store.claim_next("w0", 0) is None
    assert [j.id for j in store.pending()] == ["a"]
    add(store, "b")  # submitting keeps working
    store.set_paused(False)
    assert drain(store) == ["a", "b"]


def test_concurrent_claims_never_return_the_same_job(store):
    for i in range(60):
        add(store, f"j{i}")
    threads = 6
    barrier = threading.Barrier(threads)
    claimed: list[list[str]] = [[] for _ in range(threads)]

    def worker(index: int) -> None:
        barrier.wait()
        while (job := store.claim_next(f"w{index}", 0)) is not None:
            claimed[index].append(job.id)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    every = [job_id for ids in claimed for job_id in ids]
    assert sorted(every) == sorted(f"j{i}" for i in range(60))
    assert store.counts() == (0, 60)


# --- finish and history -------------------------------------------------------------------------------------


def test_finish_records_the_result(store):
    add(store, "a")
    claim(store, "a", 2000)
    job = store.finish("a", result("a", JobState.COMPLETED, 3500))
    assert job is not None
    expected = result("a", JobState.COMPLETED, 3500)
    assert (job.state, job.status_str, job.ended_ms, job.started_ms) == (JobState.COMPLETED, "success", 3500, 2000)
    assert (job.outputs, job.meta, job.messages) == (expected.outputs, expected.meta, expected.messages)
    assert job.finished_seq is not None and job.version == 3
    assert store.history(0, None) == [job]
    assert store.counts() == (0, 0)


def test_finish_changes_only_a_job_in_progress(store):
    done = run(store, "b")
    assert store.finish("b", result("b", JobState.FAILED)) is None
    assert store.get("b") == done
    pending = add(store, "a")
    assert store.finish("a", result("a", JobState.COMPLETED)) is None
    assert store.get("a") == pending
    assert store.finish("nobody", result("nobody", JobState.COMPLETED)) is None


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.IN_PROGRESS])
def test_finish_needs_a_terminal_state(store, state):
    add(store, "a")
    claim(store, "a")
    with pytest.raises(ValueError, match="terminal"):
        store.finish("a", result("a", state))
    assert store.counts() == (0, 1)


def test_finishing_as_removed_leaves_a_tombstone_and_the_older_entry(store):
    old = run(store, "a")
    add(store, "a")
    claim(store, "a")
    tombstone = store.finish("a", result("a", JobState.REMOVED))
    assert tombstone is not None
    assert (tombstone.state, tombstone.stop_reason, tombstone.finished_seq) == (JobState.REMOVED, "removed", None)
    assert store.history(0, None) == [old]
    assert store.get("a") == tombstone


def test_history_is_in_completion_order(store):
    add(store, "a")
    add(store, "b")
    claim(store, "a")
    claim(store, "b")
    store.finish("b", result("b", JobState.COMPLETED))
    store.finish("a", result("a", JobState.FAILED))
    assert [j.id for j in store.history(0, None)] == ["b", "a"]


def test_history_keeps_the_newest_history_max_entries(make_store):
    store = make_store(history_max=3)
    for i in range(5):
        run(store, f"j{i}", FINISHED[i % 4])
    assert [j.id for j in store.history(0, None)] == ["j2", "j3", "j4"]
    assert store.get("j0") is None and store.history_count() == 3


def test_pruning_keeps_the_cap_through_replacements_deletes_and_requeues(make_store):
    store = make_store(history_max=4)
    for i in range(6):
        run(store, f"j{i % 3}")  # re-runs of an id replace its history entry
    run(store, "x")
    store.delete_history(["j0"])
    for i in range(3, 9):
        run(store, f"j{i}", FINISHED[i % 4])
    assert [j.id for j in store.history(0, None)] == ["j5", "j6", "j7", "j8"]
    assert store.history_count() == 4


def test_tombstones_do_not_count_as_history_and_are_capped_too(make_store):
    store = make_store(history_max=2)
    for job_id in ["d0", "d1", "d2"]:
        add(store, job_id)
    store.delete_pending(None)
    run(store, "a")
    run(store, "b")
    assert [j.id for j in store.history(0, None)] == ["a", "b"]
    assert store.get("d0") is None  # the oldest tombstone went
    assert [store.cancel(i).outcome for i in ["d1", "d2"]] == [CancelOutcome.CANCELLED] * 2


def test_history_pages_from_the_oldest(store):
    for i in range(5):
        run(store, f"j{i}")
    ids = [f"j{i}" for i in range(5)]
    assert [j.id for j in store.history(0, None)] == ids
    assert [j.id for j in store.history(1, 2)] == ids[1:3]
    assert [j.id for j in store.history(3, None)] == ids[3:]
    assert store.history(5, None) == [] and store.history(0, 0) == []
    with pytest.raises(ValueError):
        store.history(-1, None)


def test_history_leaves_out_queued_running_and_removed_jobs(store):
    run(store, "done")
    add(store, "running")
    claim(store, "running")
    add(store, "pending")
    add(store, "removed")
    store.cancel("removed")
    assert [j.id for j in store.history(0, None)] == ["done"]
    assert store.history_count() == 1


def test_delete_history_touches_only_finished_entries(store):
    for job_id in ["a", "b", "c"]:
        run(store, job_id)
    add(store, "a")  # a rerun of a is pending
    add(store, "gone")
    store.cancel("gone")
    assert store.delete_history(["a", "b", "unknown"]) == 2
    assert [j.id for j in store.history(0, None)] == ["c"]
    assert [j.id for j in store.pending()] == ["a"]
    assert store.delete_history(None) == 1
    assert store.history_count() == 0
    tombstone = store.get("gone")
    assert tombstone is not None and tombstone.state is JobState.REMOVED


# --- cancel, interrupt, delete ------------------------------------------------------------------------------


def test_cancelling_a_pending_job_removes_it(store):
    add(store, "a")
    cancelled = store.cancel("a")
    assert (cancelled.outcome, cancelled.was) == (CancelOutcome.CANCELLED, JobState.PENDING)
    assert cancelled.job is not None and cancelled.job.state is JobState.REMOVED
    assert cancelled.job.stop_reason == "removed"
    assert store.get("a") == cancelled.job
    assert store.pending() == [] and store.history(0, None) == []
    assert store.list_jobs(["pending", "in_progress", "completed", "failed", "cancelled"]) == ([], 0)
    assert store.claim_next("w0", 0) is None


def test_cancelling_a_running_job_requests_a_stop_once(store):
    add(store, "a")
    claimed = claim(store, "a")
    first = store.cancel("a")
    assert (first.outcome, first.was) == (CancelOutcome.CANCELLED, JobState.IN_PROGRESS)
    assert first.job is not None
    assert (first.job.state, first.job.cancel_requested, first.job.version) == (
        JobState.IN_PROGRESS,
        True,
        claimed.version + 1,
    )
    again = store.cancel("a")
    assert again.outcome is CancelOutcome.CANCELLED and again.job == first.job  # idempotent: no new version


def test_cancelling_a_removed_job_answers_cancelled_without_change(store):
    add(store, "a")
    removed = store.cancel("a").job
    again = store.cancel("a")
    assert (again.outcome, again.was, again.job) == (CancelOutcome.CANCELLED, JobState.REMOVED, removed)


@pytest.mark.parametrize("state", FINISHED)
def test_cancelling_a_finished_job_answers_already_finished(store, state):
    done = run(store, "a", state)
    cancelled = store.cancel("a")
    assert (cancelled.outcome, cancelled.was, cancelled.job) == (CancelOutcome.ALREADY_FINISHED, state, done)
    assert store.get("a") == done


def test_cancelling_an_unknown_id(store):
    cancelled = store.cancel("nobody")
    assert (cancelled.outcome, cancelled.job, cancelled.was) == (CancelOutcome.UNKNOWN, None, None)


def test_interrupt_with_an_id_reaches_only_that_running_job(store):
    add(store, "a")
    add(store, "b")
    claim(store, "a")
    assert store.request_interrupt("b") == []  # pending: nothing happens
    assert store.request_interrupt("nobody") == []
    [marked] = store.request_interrupt("a")
    assert (marked.id, marked.cancel_requested, marked.state) == ("a", True, JobState.IN_PROGRESS)
    pending = store.get("b")
    assert pending is not None and pending.cancel_requested is False


def test_interrupt_without_an_id_reaches_every_running_job_and_is_not_remembered(store):
    assert store.request_interrupt(None) == []
    for job_id in "abc":
        add(store, job_id)
    claim(store, "a")
    claim(store, "b")
    marked = store.request_interrupt(None)
    assert [(j.id, j.cancel_requested) for j in marked] == [("a", True), ("b", True)]
    assert store.request_interrupt(None) == marked  # already marked: same rows, no new version
    third = claim(store, "c")
    assert third.cancel_requested is False


def test_delete_pending_removes_only_pending_jobs(store):
    run(store, "e")
    add(store, "d")
    claim(store, "d")
    for job_id, number in [("a", 5), ("b", 6), ("c", 1)]:
        add(store, job_id, number)
    assert store.delete_pending(["a", "d", "e", "c", "unknown"]) == ["c", "a"]
    assert [j.id for j in store.pending()] == ["b"]
    assert [j.id for j in store.running()] == ["d"]
    assert [j.id for j in store.history(0, None)] == ["e"]
    removed = store.get("a")
    assert removed is not None and removed.state is JobState.REMOVED
    assert store.delete_pending([]) == []


def test_delete_pending_without_ids_clears_the_queue(store):
    add(store, "r")
    claim(store, "r")
    for job_id in "xyz":
        add(store, job_id)
    assert store.delete_pending(None) == ["x", "y", "z"]
    assert store.counts() == (0, 1)
    assert store.delete_pending(None) == []


# --- reads --------------------------------------------------------------------------------------------------


def test_get_of_an_unknown_id_is_none(store):
    assert store.get("nobody") is None


def test_queue_items_carry_raw_json_in_run_order(store):
    add(store, "r", 4)
    claim(store, "r")
    add(store, "b", 2)
    add(store, "a", 1.5)
    running, pending = store.queue_items()
    assert [(i.number, i.id) for i in running] == [(4, "r")]
    assert [(i.number, i.id) for i in pending] == [(1.5, "a"), (2, "b")]
    item = pending[0]
    assert json.loads(item.prompt_json) == new_job("a").prompt
    assert json.loads(item.extra_data_json) == new_job("a").extra_data
    assert json.loads(item.outputs_json) == ["9"]
    assert store.queue_items() == (running, pending)


def test_counts_are_pending_then_running(store):
    assert store.counts() == (0, 0)
    for job_id in "abc":
        add(store, job_id)
    claim(store, "a")
    assert store.counts() == (2, 1)


# --- Jobs API list ------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(store: JobStore) -> JobStore:
    """One job of every kind; created_ms and durations differ so every sort order is distinct."""
    run(store, "c1", JobState.COMPLETED, created_ms=100, started=1000, ended=1500, workflow_id="w1")
    run(store, "f1", JobState.FAILED, created_ms=400, started=1000, ended=1100)
    run(store, "x1", JobState.CANCELLED, created_ms=300, started=1000, ended=1900, workflow_id="w1")
    run(store, "i1", JobState.INTERRUPTED, created_ms=200, started=1000, ended=1300)
    run(store, "c2", JobState.COMPLETED, created_ms=500, started=1000, ended=1050)
    add(store, "r1", created_ms=600, workflow_id="w1")
    claim(store, "r1", 5000)
    add(store, "p1", created_ms=700)
    add(store, "d1", created_ms=800)
    store.cancel("d1")
    add(store, "p2", created_ms=900, workflow_id="w1")
    return store


ALL_STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pending"], {"p1", "p2"}),
        (["in_progress"], {"r1"}),
        (["completed"], {"c1", "c2"}),
        (["failed"], {"f1"}),
        (["cancelled"], {"x1", "i1"}),
        (["in_progress", "pending"], {"r1", "p1", "p2"}),
        (["completed", "failed", "cancelled"], {"c1", "c2", "f1", "x1", "i1"}),
        (ALL_STATUSES, {"c1", "c2", "f1", "x1", "i1", "r1", "p1", "p2"}),
        ([], set()),
    ],
)
def test_list_jobs_filters_by_status(mixed, statuses, expected):
    jobs, total = mixed.list_jobs(statuses)
    assert {j.id for j in jobs} == expected
    assert total == len(expected)


def test_list_jobs_sorts_by_creation_newest_first_by_default(mixed):
    jobs, _ = mixed.list_jobs(ALL_STATUSES)
    assert [j.id for j in jobs] == ["p2", "p1", "r1", "c2", "f1", "x1", "i1", "c1"]
    jobs, _ = mixed.list_jobs(ALL_STATUSES, descending=False)
    assert [j.id for j in jobs] == ["c1", "i1", "x1", "f1", "c2", "r1", "p1", "p2"]


def test_list_jobs_sorts_by_execution_duration_with_zero_when_unknown(mixed):
    jobs, _ = mixed.list_jobs(["completed", "failed", "cancelled"], sort_by="execution_duration")
    assert [j.id for j in jobs] == ["x1", "c1", "i1", "f1", "c2"]
    jobs, _ = mixed.list_jobs(["pending", "in_progress", "completed"], sort_by="execution_duration", descending=False)
    assert [j.id for j in jobs] == ["r1", "p1", "p2", "c2", "c1"]  # unknown durations are 0, ties by seq


def test_list_jobs_breaks_ties_by_submission_order(store):
    for job_id in "abc":
        add(store, job_id, created_ms=5)
    assert [j.id for j in store.list_jobs(["pending"])[0]] == ["c", "b", "a"]
    assert [j.id for j in store.list_jobs(["pending"], descending=False)[0]] == ["a", "b", "c"]


def test_list_jobs_pages_after_sorting_and_counts_the_filtered_set(mixed):
    jobs, total = mixed.list_jobs(ALL_STATUSES, offset=2, limit=3)
    assert ([j.id for j in jobs], total) == (["r1", "c2", "f1"], 8)
    jobs, total = mixed.list_jobs(ALL_STATUSES, offset=6)
    assert ([j.id for j in jobs], total) == (["i1", "c1"], 8)
    assert mixed.list_jobs(ALL_STATUSES, offset=8, limit=5) == ([], 8)
    assert mixed.list_jobs(["cancelled"], limit=1)[1] == 2


def test_list_jobs_filters_by_workflow_id(mixed):
    jobs, total = mixed.list_jobs(ALL_STATUSES, workflow_id="w1")
    assert ([j.id for j in jobs], total) == (["p2", "r1", "x1", "c1"], 4)
    assert mixed.list_jobs(ALL_STATUSES, workflow_id="nope") == ([], 0)


def test_list_jobs_summaries_carry_outputs_error_and_interruption(mixed):
    jobs = {j.id: j for j in mixed.list_jobs(ALL_STATUSES)[0]}
    assert jobs["c1"].outputs == result("c1", JobState.COMPLETED).outputs
    assert (jobs["c1"].error, jobs["c1"].interrupted, jobs["c1"].status_str) == (None, False, "success")
    assert jobs["f1"].error == {**ERROR, "prompt_id": "f1"} and jobs["f1"].interrupted is False
    assert jobs["x1"].interrupted and jobs["i1"].interrupted and jobs["x1"].error is None
    assert (jobs["r1"].state, jobs["r1"].started_ms, jobs["r1"].worker_id) == (JobState.IN_PROGRESS, 5000, "w0")
    assert (jobs["p1"].outputs, jobs["p1"].messages, jobs["p1"].created_ms) == ({}, [], 700)


def test_list_jobs_rejects_unknown_names(store):
    with pytest.raises(ValueError, match="removed"):
        store.list_jobs(["pending", "removed"])
    with pytest.raises(ValueError, match="sort_by"):
        store.list_jobs(["pending"], sort_by="number")


# --- fold groups of no-op repeats (execution.md §8.5) ------------------------------------------------------


def repeat_of(store: JobStore, job_id: str, into: str) -> Job:
    """Runs `job_id` as an all-cached repeat of `into`."""
    add(store, job_id)
    claim(store, job_id)
    done = store.finish(job_id, replace(result(job_id, JobState.COMPLETED), fold_into=into))
    assert done is not None
    return done


def listed(store: JobStore) -> list[str]:
    return [j.id for j in store.list_jobs(["completed"], descending=False)[0]]


def test_a_fold_group_lists_only_its_newest_member_and_keeps_every_entry(store):
    run(store, "first")
    repeat_of(store, "r1", "first")
    repeat_of(store, "r2", "r1")
    run(store, "other")
    assert listed(store) == ["r2", "other"]
    assert store.list_jobs(["completed"])[1] == 2
    assert [j.id for j in store.history(0, None)] == ["first", "r1", "r2", "other"]
    assert store.get("first") is not None and store.get("r1") is not None


def test_a_fold_group_counts_once_towards_history_max_and_is_pruned_whole(make_store):
    store = make_store(history_max=2)
    run(store, "first")
    for i in range(5):
        repeat_of(store, f"r{i}", "first" if i == 0 else f"r{i - 1}")
    run(store, "b")
    assert [j.id for j in store.history(0, None)] == ["first", "r0", "r1", "r2", "r3", "r4", "b"]
    run(store, "c")  # the group is the oldest entry: it goes, all its members with it
    assert [j.id for j in store.history(0, None)] == ["b", "c"]
    assert listed(store) == ["b", "c"]


def test_a_fold_group_keeps_its_newest_hundred_members(store):
    run(store, "m0")
    for i in range(1, FOLD_GROUP_MAX + 20):
        repeat_of(store, f"m{i}", f"m{i - 1}")
    kept = [j.id for j in store.history(0, None)]
    assert kept == [f"m{i}" for i in range(20, FOLD_GROUP_MAX + 20)]
    assert listed(store) == [f"m{FOLD_GROUP_MAX + 19}"]


def test_folding_into_a_job_that_is_gone_or_failed_makes_an_entry_of_its_own(store):
    run(store, "bad", JobState.FAILED)
    repeat_of(store, "a", "bad")
    repeat_of(store, "b", "missing")
    assert listed(store) == ["a", "b"]


def test_deleting_a_groups_listed_entry_deletes_the_group(store):
    run(store, "first")
    repeat_of(store, "r1", "first")
    run(store, "kept")
    assert store.delete_history(["r1"]) == 1
    assert [j.id for j in store.history(0, None)] == ["kept"]


# --- start-up recovery --------------------------------------------------------------------------------------


def test_orphans_become_interrupted_history_entries(store):
    add(store, "a")
    claim(store, "a", 2000)
    add(store, "p")
    [job] = store.recover_orphans(requeue=False, now_ms=9000)
    assert (job.id, job.state, job.stop_reason, job.status_str) == (
        "a",
        JobState.INTERRUPTED,
        "server_restarted",
        "error",
    )
    assert job.messages == [
        ["execution_start", {"prompt_id": "a", "timestamp": 2000}],
        [
            "execution_interrupted",
            {"prompt_id": "a", "node_id": None, "node_type": None, "executed": [], "timestamp": 9000},
        ],
    ]
    assert (job.ended_ms, job.outputs) == (9000, {})
    assert store.history(0, None) == [job]
    assert store.list_jobs(["cancelled"])[1] == 1
    assert [j.id for j in store.pending()] == ["p"]
    assert store.recover_orphans(requeue=False, now_ms=9001) == []


def test_requeued_orphans_go_to_the_front_in_their_order(store):
    add(store, "r1")
    add(store, "r2")
    claim(store, "r1")
    claim(store, "r2")
    add(store, "front", -50)
    add(store, "p", 70)
    recovered = store.recover_orphans(requeue=True, now_ms=9000)
    assert [(j.id, j.state, j.worker_id, j.started_ms) for j in recovered] == [
        ("r1", JobState.PENDING, None, None),
        ("r2", JobState.PENDING, None, None),
    ]
    assert all(j.number < -50 for j in recovered)
    assert [j.id for j in store.pending()] == ["r1", "r2", "front", "p"]
    assert store.history_count() == 0


def test_requeued_orphans_keep_numbers_that_already_sort_first(store):
    add(store, "r", 3)
    claim(store, "r")
    add(store, "p", 10)
    [job] = store.recover_orphans(requeue=True, now_ms=0)
    assert job.number == 3
    assert drain(store) == ["r", "p"]


def test_an_orphan_whose_cancel_was_requested_is_not_requeued(store):
    for job_id in ["a", "b"]:
        add(store, job_id)
        claim(store, job_id)
    store.cancel("a")
    recovered = store.recover_orphans(requeue=True, now_ms=9000)
    assert [(j.id, j.state) for j in recovered] == [("a", JobState.INTERRUPTED), ("b", JobState.PENDING)]
    assert [j.id for j in store.history(0, None)] == ["a"]


def test_history_max_must_not_be_negative():
    with pytest.raises(ValueError):
        MemoryJobStore(history_max=-1)
    with pytest.raises(ValueError):
        SqliteJobStore(None, history_max=-1)


def order(store: JobStore) -> list[str]:
    return [job.id for job in store.pending()]


def test_move_to_the_front_and_back_and_before(store):
    for job_id, number in (("a", 1), ("b", 2), ("c", 3), ("d", 4)):
        add(store, job_id, number)
    front = store.move("c", to="front")
    assert front.outcome is MoveOutcome.MOVED and front.position == 1 and front.number == 0
    assert order(store) == ["c", "a", "b", "d"]
    back = store.move("a", to="back")
    assert back.position == 4 and order(store) == ["c", "b", "d", "a"]
    before = store.move("a", before="b")
    assert before.position == 2 and order(store) == ["c", "a", "b", "d"]
    assert store.move("a", before="b") == Moved(MoveOutcome.MOVED, before.number, 2)  # already there: no change
    assert store.move("d", to="back").position == 4


def test_move_between_equal_numbers_renumbers_the_queue_in_order(store):
    for job_id in ("a", "b", "c"):
        add(store, job_id, 5)
    assert store.move("c", before="b").outcome is MoveOutcome.MOVED
    assert order(store) == ["a", "c", "b"]


def test_move_errors_change_nothing(store):
    add(store, "a", 1)
    add(store, "b", 2)
    add(store, "r", 0)
    claim(store, "r")
    assert store.move("zzz", to="front").outcome is MoveOutcome.JOB_NOT_FOUND
    assert store.move("r", to="back").outcome is MoveOutcome.JOB_NOT_PENDING
    assert store.move("a", before="zzz").outcome is MoveOutcome.ANCHOR_NOT_FOUND
    assert store.move("a", before="r").outcome is MoveOutcome.ANCHOR_NOT_PENDING
    assert order(store) == ["a", "b"]


def test_a_move_is_kept_when_the_queue_is_listed_and_claimed(store):
    for job_id, number in (("a", 1), ("b", 2)):
        add(store, job_id, number)
    store.queue_items()
    store.move("b", to="front")
    _running, pending = store.queue_items()
    assert [item.id for item in pending] == ["b", "a"]
    assert store.claim_next("w", 1).id == "b"


def test_clear_queue_removes_pending_and_optionally_marks_running(store):
    add(store, "r", 0)
    claim(store, "r")
    add(store, "a", 1)
    add(store, "b", 2)
    removed, interrupted, _repeats = store.clear_queue(include_running=False)
    assert removed == ["a", "b"] and interrupted == []
    assert store.get("r").cancel_requested is False
    add(store, "c", 3)
    removed, interrupted, _repeats = store.clear_queue(include_running=True)
    assert removed == ["c"] and [j.id for j in interrupted] == ["r"]
    assert store.get("r").cancel_requested is True and store.pending() == []


def test_a_batch_is_queued_in_item_order_as_far_as_it_fits(store):
    add(store, "x", 0)
    jobs = [new_job(f"b{i}", 10 + i) for i in range(4)]
    added = store.add_batch("batch-1", jobs, requested=4, max_pending=3)
    assert [j.id for j in added] == ["b0", "b1"]  # "x" already uses one of the three places
    assert order(store) == ["x", "b0", "b1"]
    record = store.get_batch("batch-1")
    assert record is not None and record.requested == 4 and record.job_ids == ("b0", "b1")
    assert store.get_batch("nope") is None


def test_a_batch_with_an_active_duplicate_id_queues_nothing(store):
    add(store, "b1", 0)
    with pytest.raises(DuplicateJobError):
        store.add_batch("batch-2", [new_job("b0", 1), new_job("b1", 2)], requested=2, max_pending=100)
    assert order(store) == ["b1"] and store.get_batch("batch-2") is None


# --- repeats (http-api.md §7.10) ---


def repeat(repeat_id: str, created_ms: int = 1, **changes) -> RepeatRecord:
    fields = {"state": RepeatState.ACTIVE, "runs": 0, "max_runs": None, "current_job": None, "last_job": None}
    fields |= {"stop_reason": None, "spec": {"prompt": {"1": {"class_type": "X", "inputs": {"seed": 1}}}}}
    return RepeatRecord(repeat_id, created_ms=created_ms, **{**fields, **changes})


def test_a_repeat_is_stored_with_its_first_job_at_the_back(store):
    add(store, "before")
    job = store.add_repeat(repeat("r"), new_job("r-1", None))
    assert job.id == "r-1" and [j.id for j in store.pending()] == ["before", "r-1"]
    stored = store.get_repeat("r")
    assert stored == repeat("r", current_job="r-1")
    assert store.get_repeat("nope") is None


def test_a_repeat_swaps_its_job_only_from_the_job_it_was_read_with(store):
    store.add_repeat(repeat("r"), new_job("r-1", None))
    claim(store, "r-1")
    store.finish("r-1", result("r-1", JobState.COMPLETED))
    ran = repeat("r", runs=1, last_job="r-1")
    queued = store.update_repeat(ran, expected_job="r-1", job=new_job("r-2", None))
    assert queued is not None and queued.id == "r-2"
    assert store.get_repeat("r") == repeat("r", runs=1, last_job="r-1", current_job="r-2")
    with pytest.raises(RepeatConflict):  # a second advance from the same finished job
        store.update_repeat(ran, expected_job="r-1", job=new_job("r-3", None))
    assert [j.id for j in store.pending()] == ["r-2"]
    stopped = repeat("r", state=RepeatState.STOPPED, stop_reason="user", runs=1, current_job="r-2")
    assert store.update_repeat(stopped, expected_job="r-2") is None
    with pytest.raises(RepeatConflict):  # an ended repeat does not change again
        store.update_repeat(repeat("r"), expected_job="r-2")


def test_repeats_are_listed_live_first_and_clearing_the_queue_stops_them(store):
    store.add_repeat(repeat("b", created_ms=2), new_job("b-1", None))
    store.add_repeat(repeat("a", created_ms=1), new_job("a-1", None))
    store.add_repeat(repeat("c", created_ms=3), new_job("c-1", None))
    store.update_repeat(repeat("c", created_ms=3, state=RepeatState.FINISHED), expected_job="c-1")
    assert [r.id for r in store.list_repeats()] == ["a", "b", "c"]
    removed, _running, stopped = store.clear_queue(include_running=False)
    assert sorted(removed) == ["a-1", "b-1", "c-1"] and stopped == ["a", "b"]
    assert {r.id: (r.state, r.stop_reason, r.current_job) for r in store.list_repeats()} == {
        "c": (RepeatState.FINISHED, None, None),
        "b": (RepeatState.STOPPED, "queue_cleared", None),
        "a": (RepeatState.STOPPED, "queue_cleared", None),
    }


def test_a_claim_may_choose_among_the_first_jobs_in_run_order(store):
    for name in "abcd":
        add(store, name)
    seen: list[list[str]] = []

    def second(candidates: list[Job]) -> int:
        seen.append([j.id for j in candidates])
        return 1

    claimed = store.claim_next("w1", 5, look_ahead=3, choose=second)
    assert claimed is not None and (claimed.id, claimed.worker_id, claimed.started_ms) == ("b", "w1", 5)
    assert seen == [["a", "b", "c"]] and [j.id for j in store.pending()] == ["a", "c", "d"]
    assert store.claim_next("w1", 6, look_ahead=3, choose=lambda _c: None) is None  # none chosen: no change
    assert [j.id for j in store.pending()] == ["a", "c", "d"]
    assert store.claim_next("w1", 6, look_ahead=3, choose=lambda _c: 7).id == "a"  # out of range: the first
    store.set_paused(True)
    assert store.claim_next("w1", 7, look_ahead=3, choose=second) is None


def test_the_change_count_moves_with_every_write(store):
    seen = [store.change_count()]
    add(store, "a")
    seen.append(store.change_count())
    claim(store, "a")
    seen.append(store.change_count())
    store.set_paused(True)
    seen.append(store.change_count())
    assert len(set(seen)) == len(seen)


def test_uncontended_holds_the_store_only_when_no_other_thread_uses_it(store: JobStore):
    with store.uncontended() as free:
        assert free
        assert store.counts() == (0, 0)  # re-entrant: calls inside the block take the store as usual
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.uncontended():
            holding.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with store.uncontended() as free:
            assert not free
    finally:
        done.set()
        thread.join()
    with store.uncontended() as free:
        assert free


def test_a_transaction_keeps_all_its_calls_and_shows_them_to_others_only_at_its_end(store: JobStore):
    seen: list[tuple[int, int]] = []
    with store.transaction():
        add(store, "a")
        claimed = store.claim_next("w1", 2000)
        assert claimed is not None and claimed.id == "a"
        add(store, "b")
        assert store.counts() == (1, 1)  # the transaction reads its own calls
        other = threading.Thread(target=lambda: seen.append(store.counts()))
        other.start()
        other.join(0.2)
        assert not seen  # another thread waits for the transaction's end
    other.join(10)
    assert seen == [(1, 1)]
    assert [job.id for job in store.pending()] == ["b"]
    assert [item.id for item in store.queue_items()[1]] == ["b"]


def test_an_exception_leaving_a_transaction_undoes_every_call_in_it(store: JobStore):
    add(store, "kept")
    with pytest.raises(RuntimeError), store.transaction():
        add(store, "a")
        assert store.claim_next("w1", 2000) is not None
        raise RuntimeError("boom")
    assert store.counts() == (1, 0)
    assert [job.id for job in store.pending()] == ["kept"]
    assert [item.id for item in store.queue_items()[1]] == ["kept"]
    assert store.get("a") is None
    add(store, "a")  # nothing of the undone run is left: the id is free, and its queue entry is right
    assert [item.id for item in store.queue_items()[1]] == ["kept", "a"]


def test_a_call_failing_inside_a_transaction_is_undone_alone(store: JobStore):
    with store.transaction():
        add(store, "a")
        with pytest.raises(DuplicateJobError):
            add(store, "a")
        with pytest.raises(QueueFullError):
            store.add(new_job("b", store.next_number()), max_pending=1)
        add(store, "c")
    assert [job.id for job in store.pending()] == ["a", "c"]


def test_queue_state_is_the_counts_and_the_paused_flag(store: JobStore):
    assert store.queue_state() == (0, 0, False)
    add(store, "a")
    add(store, "b")
    store.claim_next("w1", 2000)
    store.set_paused(True)
    assert store.queue_state() == (*store.counts(), True) == (1, 1, True)


def test_a_finished_record_holds_its_runs_submission(make_store: MakeStore):
    store = make_store()
    job = new_job("a", store.next_number())
    store.add(job)
    claimed = store.claim_next("w1", 2000)
    finished = store.finish("a", result("a", JobState.COMPLETED))
    assert claimed is not None and finished is not None
    for record in (claimed, finished, store.get("a")):
        assert record is not None
        assert (record.prompt, record.extra_data, record.outputs_to_execute) == (
            job.prompt,
            job.extra_data,
            job.outputs_to_execute,
        )


def test_a_run_undone_with_its_claim_leaves_nothing_of_its_submission_to_a_later_run(store: JobStore):
    with pytest.raises(RuntimeError), store.transaction():
        store.add(new_job("undone", store.next_number()))
        assert store.claim_next("w1", 2000) is not None
        raise RuntimeError("boom")
    later = replace(new_job("later", store.next_number()), prompt={"1": {"class_type": "Later", "inputs": {}}})
    store.add(later)  # may take the undone row's seq
    assert store.claim_next("w1", 2001) is not None
    finished = store.finish("later", result("later", JobState.COMPLETED))
    assert finished is not None and finished.prompt == later.prompt and finished.id == "later"
