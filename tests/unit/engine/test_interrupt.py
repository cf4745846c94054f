"""Per-run cancellation (execution.md §9.3): before a run, during a node, at boundaries, in async tasks."""

import threading

import pytest

from impasto.engine.cancel import CancelToken, Interrupted
from impasto.engine.runner import RunRequest, RunStatus
from impasto.engine.validation import validate_locally
from impasto.protocol.events import EventType
from tests.support.testnodes import Busy, CallLog


def busy_prompt(steps: int = 200) -> dict:
    return {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Busy", "inputs": {"steps": steps, "seconds": 0.01}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }


def cancel_when_busy(token: CancelToken) -> threading.Thread:
    def wait_then_cancel() -> None:
        assert Busy.started.wait(30)
        token.cancel()

    thread = threading.Thread(target=wait_then_cancel)
    thread.start()
    return thread


def test_a_cancel_before_the_run_is_honoured(harness):
    token = CancelToken()
    token.cancel()
    run = harness.run(busy_prompt(), token=token)
    assert run.result.status is RunStatus.INTERRUPTED
    assert CallLog.calls == []
    assert run.types()[-1] == "execution_interrupted"
    assert [m[0] for m in run.result.messages] == ["execution_start", "execution_cached", "execution_interrupted"]


def test_a_cancel_during_progress_stops_the_node(harness):
    token = CancelToken()
    thread = cancel_when_busy(token)
    run = harness.run(busy_prompt(), token=token)
    thread.join()
    assert run.result.status is RunStatus.INTERRUPTED
    interrupted = run.of(EventType.EXECUTION_INTERRUPTED)[0]
    assert interrupted["node_id"] == "2"
    assert interrupted["node_type"] == "Busy"
    assert interrupted["prompt_id"] == "p1"
    assert isinstance(interrupted["timestamp"], int)
    assert len(run.of(EventType.PROGRESS)) < 200
    assert CallLog.count("Add") == 0


def test_a_node_that_swallows_exceptions_cannot_keep_the_job_alive(harness):
    token = CancelToken()
    token.cancel()
    prompt = {
        "1": {"class_type": "Swallow", "inputs": {"steps": 5}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt, token=token)
    assert run.result.status is RunStatus.INTERRUPTED


def test_the_token_stays_set_at_every_later_interrupt_point():
    token = CancelToken()
    token.cancel()
    for _ in range(3):
        with pytest.raises(Interrupted):
            token.raise_if_cancelled()
    assert not issubclass(Interrupted, Exception)


def test_a_boundary_interrupt_names_the_node_about_to_start(harness):
    token = CancelToken()
    prompt = {
        "1": {"class_type": "Busy", "inputs": {"steps": 1, "seconds": 0.0}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }

    class CancelAfterFirstNode:
        def __call__(self, event):
            events.append(event)
            if (
                getattr(event, "type", None) is EventType.PROGRESS_STATE
                and event.data["nodes"].get("1", {}).get("state") == "finished"
            ):
                token.cancel()

    events: list = []
    request_run = harness.engine.run_sync
    validation = validate_locally(prompt, harness.registry)
    result = request_run(RunRequest("p", validation.prompt, validation.outputs), CancelAfterFirstNode(), token)
    assert result.status is RunStatus.INTERRUPTED
    assert result.interrupted is not None and result.interrupted["node_id"] == "2"
    types = [e.type.value for e in events]
    assert types[-3:] == ["progress_state", "executing", "execution_interrupted"]
    assert CallLog.count("Add") == 0


def test_completed_nodes_stay_cached_after_an_interrupt(harness):
    token = CancelToken()
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Busy", "inputs": {"steps": 200, "seconds": 0.01}},
        "4": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": ["3", 0]}},
        "5": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        "6": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
    }
    thread = cancel_when_busy(token)
    first = harness.run(prompt, token=token)
    thread.join()
    assert first.result.status is RunStatus.INTERRUPTED
    assert first.result.executed == ["1", "2", "5"]
    again = harness.run(prompt)
    assert again.of(EventType.EXECUTION_CACHED)[0]["nodes"] == ["1", "2", "5"]
    assert again.executing()[0] == "3"


def test_async_tasks_are_cancelled_by_an_interrupt(harness):
    token = CancelToken()
    prompt = {
        "1": {"class_type": "Sleep", "inputs": {"value": 1, "seconds": 60.0}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    timer = threading.Timer(0.2, token.cancel)
    timer.start()
    run = harness.run(prompt, token=token)
    timer.join()
    assert run.result.status is RunStatus.INTERRUPTED
    assert run.result.interrupted is not None and run.result.interrupted["node_id"] == "1"


def test_node_code_may_withdraw_only_its_own_request():
    token = CancelToken()
    token.request_from_node()
    assert requested(token)
    token.withdraw_node_request()
    assert not requested(token)
    token.cancel()
    token.request_from_node()
    token.withdraw_node_request()
    assert requested(token)


def requested(token: CancelToken) -> bool:
    return token.requested


def test_a_cancel_of_one_run_does_not_touch_the_next(harness):
    token = CancelToken()
    token.cancel()
    harness.run(busy_prompt(steps=1), token=token)
    run = harness.run(busy_prompt(steps=1))
    assert run.result.status is RunStatus.SUCCESS


def test_a_cancel_during_the_last_node_ends_the_run_cancelled_not_successful(harness):
    # The last node has no interrupt point after the cancel lands: the run's end still honours it, so a
    # worker that answered "accepted" to the cancel can never report the job completed.
    token = CancelToken()
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }

    def cancel_on_last_output(event):
        events.append(event)
        if getattr(event, "type", None) is EventType.EXECUTED and event.data["node"] == "2":
            assert token.cancel()

    events: list = []
    validation = validate_locally(prompt, harness.registry)
    result = harness.engine.run_sync(
        RunRequest("p", validation.prompt, validation.outputs), cancel_on_last_output, token
    )
    assert result.status is RunStatus.INTERRUPTED
    assert result.interrupted is not None and result.interrupted["node_id"] == "2"
    assert result.executed == ["1", "2"]
    assert "execution_success" not in [e.type.value for e in events]


class CancelThenFail:
    """A node during which a user's cancel lands, and which then raises an ordinary exception."""

    token: CancelToken | None = None
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        assert CancelThenFail.token is not None and CancelThenFail.token.cancel()
        raise ValueError("failed because it was being stopped")


def test_a_node_failing_after_a_cancel_landed_ends_the_run_cancelled(harness):
    harness.registry.register("CancelThenFail", CancelThenFail)
    CancelThenFail.token = token = CancelToken()
    run = harness.run({"1": {"class_type": "CancelThenFail", "inputs": {}}}, token=token)
    assert run.result.status is RunStatus.INTERRUPTED
    assert "execution_error" not in run.types()


def test_a_finished_run_refuses_later_cancels():
    token = CancelToken()
    assert not token.seal()
    assert not token.cancel() and not token.requested
    cancelled = CancelToken()
    assert cancelled.cancel() and cancelled.seal()
    assert cancelled.cancel()  # idempotent: the run did end cancelled
