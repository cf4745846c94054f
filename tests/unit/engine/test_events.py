"""Event order of a run (websocket.md §4), as the engine emits it."""

from impasto.engine.runner import RunStatus
from impasto.protocol.events import EventType


class CustomError(Exception):
    pass


CHAIN = {
    "1": {"class_type": "Const", "inputs": {"value": 2}},
    "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
}


def test_fresh_run_emits_the_spec_order(harness):
    run = harness.run(CHAIN)
    assert run.types() == [
        "execution_start",
        "execution_cached",
        "progress_state",
        "executing",
        "progress_state",
        "progress_state",
        "executing",
        "executed",
        "progress_state",
        "execution_success",
    ]
    assert run.executing() == ["1", "2"]
    assert run.of(EventType.EXECUTION_CACHED)[0]["nodes"] == []
    executed = run.of(EventType.EXECUTED)[0]
    assert executed == {"node": "2", "display_node": "2", "output": {"text": ["2"]}, "prompt_id": "p1"}
    states = [(n, e["state"]) for ps in run.of(EventType.PROGRESS_STATE) for n, e in ps["nodes"].items()]
    assert states == [("1", "running"), ("1", "finished"), ("2", "running"), ("2", "finished")]
    assert run.result.status is RunStatus.SUCCESS
    assert [m[0] for m in run.result.messages] == ["execution_start", "execution_cached", "execution_success"]
    assert all(isinstance(m[1]["timestamp"], int) for m in run.result.messages)


def test_identical_rerun_executes_nothing_and_resends_cached_ui(harness):
    first = harness.run(CHAIN)
    again = harness.run(CHAIN)
    assert again.types() == ["execution_start", "execution_cached", "executed", "progress_state", "execution_success"]
    assert again.of(EventType.EXECUTION_CACHED)[0]["nodes"] == ["1", "2"]
    assert again.executing() == []
    assert again.of(EventType.EXECUTED)[0]["output"] == first.of(EventType.EXECUTED)[0]["output"]
    assert again.result.outputs == {"2": {"text": ["2"]}}
    assert again.result.executed == []


def test_runtime_error_reports_the_failing_node_and_stops(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 2}},
        "2": {"class_type": "Fail", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    run = harness.run(prompt)
    assert run.types()[-2:] == ["executing", "execution_error"]
    error = run.of(EventType.EXECUTION_ERROR)[0]
    assert error["node_id"] == "2"
    assert error["node_type"] == "Fail"
    assert error["exception_message"] == "boom 2\n"
    assert error["exception_type"] == "RuntimeError"
    assert error["executed"] == ["1"]
    assert error["current_inputs"] == {"value": [2]}
    assert sorted(error["current_outputs"]) == ["1", "2", "3"]
    assert any("raise RuntimeError" in line for line in error["traceback"])
    assert run.result.status is RunStatus.ERROR
    assert [m[0] for m in run.result.messages] == ["execution_start", "execution_cached", "execution_error"]


def test_error_leaves_completed_nodes_cached(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 2}},
        "2": {"class_type": "Fail", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    harness.run(prompt)
    again = harness.run(prompt)
    assert again.of(EventType.EXECUTION_CACHED)[0]["nodes"] == ["1"]
    assert again.executing() == ["2"]


def test_exception_type_is_module_qualified_for_non_builtins(harness, test_registry):
    from tests.support.testnodes import CallLog

    class Raises:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ()
        FUNCTION = "run"
        OUTPUT_NODE = True

        def run(self):
            CallLog.record("Raises")
            raise CustomError("custom")

    test_registry.register("Raises", Raises)
    run = harness.run({"1": {"class_type": "Raises", "inputs": {}}})
    assert run.of(EventType.EXECUTION_ERROR)[0]["exception_type"] == f"{__name__}.CustomError"


def test_progress_reports_emit_progress_and_running_state(harness):
    run = harness.run(
        {
            "1": {"class_type": "Busy", "inputs": {"steps": 3, "seconds": 0.0}},
            "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        }
    )
    progress = run.of(EventType.PROGRESS)
    assert progress == [{"value": v, "max": 3, "prompt_id": "p1", "node": "1"} for v in (1, 2, 3)]
    states = [ps["nodes"]["1"] for ps in run.of(EventType.PROGRESS_STATE) if "1" in ps["nodes"]]
    assert [(s["value"], s["max"], s["state"]) for s in states] == [
        (0, 1, "running"),
        (1, 3, "running"),
        (2, 3, "running"),
        (3, 3, "running"),
        (3, 3, "finished"),
    ]


def test_the_active_run_is_visible_from_a_thread_node_code_starts(test_registry, harness):
    import threading

    from impasto.engine.context import active_run

    seen = []

    class Threaded:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        RETURN_TYPES = ()
        FUNCTION = "run"
        OUTPUT_NODE = True

        def run(self):
            thread = threading.Thread(target=lambda: seen.append(active_run()))
            thread.start()
            thread.join()
            return {}

    test_registry.register("Threaded", Threaded)
    harness.run({"1": {"class_type": "Threaded", "inputs": {}}})
    assert seen[0] is not None and seen[0].prompt_id == "p1"
    assert active_run() is None
