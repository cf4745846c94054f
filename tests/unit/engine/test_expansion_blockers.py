"""Node expansion (execution.md §7.7) and ExecutionBlocker (§7.6)."""

from impasto.engine.runner import RunStatus
from impasto.protocol.events import DEPENDENCY_CYCLE_ERROR, EXECUTION_BLOCKED, EventType
from tests.support.testnodes import CallLog


def loop_prompt(count: int) -> dict:
    return {
        "1": {"class_type": "ForLoopSum", "inputs": {"count": count, "total": 0}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }


def test_a_for_loop_built_by_expansion_computes_its_sum(harness):
    run = harness.run(loop_prompt(5))
    assert run.result.status is RunStatus.SUCCESS
    assert run.result.outputs["2"] == {"text": ["10"]}
    assert CallLog.count("Add") == 5


def test_expansion_ids_are_deterministic_prefixes(harness):
    run = harness.run(loop_prompt(2))
    executing = run.executing()
    assert executing[:3] == ["1", "1.0.0.1", "1.0.0.2"]
    assert "1.0.0.2.0.0.1" in executing
    ephemeral = [e for e in run.of(EventType.EXECUTING) if e["node"] != e["display_node"]]
    assert ephemeral and all(e["display_node"] == "1" for e in ephemeral)


def test_ephemeral_progress_reports_parent_and_real_ids(harness):
    run = harness.run(loop_prompt(2))
    states = {n: e for ps in run.of(EventType.PROGRESS_STATE) for n, e in ps["nodes"].items()}
    assert states["1.0.0.1"]["parent_node_id"] == "1"
    assert states["1.0.0.1"]["real_node_id"] == "1"
    assert states["1.0.0.2.0.0.1"]["parent_node_id"] == "1.0.0.2"
    assert states["1.0.0.2.0.0.1"]["real_node_id"] == "1"
    assert states["1.0.0.2.0.0.1"]["display_node_id"] == "1"


def test_builder_prefixes_count_builders_within_a_call(harness):
    run = harness.run({"5": {"class_type": "PrefixProbe", "inputs": {"value": 1}}})
    assert run.result.outputs["5"] == {"prefixes": ["5.0.0.", "5.0.1."]}


def test_expanded_output_nodes_join_the_run_and_history(harness):
    prompt = {
        "1": {"class_type": "ExpandOutput", "inputs": {"value": 3}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt)
    ephemeral_outputs = [n for n in run.result.outputs if n.startswith("1.")]
    assert len(ephemeral_outputs) == 1
    node = ephemeral_outputs[0]
    assert run.result.meta[node]["parent_node"] == "1"
    assert run.result.meta[node]["display_node"] == "1"
    assert run.result.outputs["2"] == {"text": ["3"]}


def test_identical_rerun_of_a_loop_recomputes_nothing(harness):
    harness.run(loop_prompt(4))
    CallLog.calls.clear()
    again = harness.run(loop_prompt(4))
    assert again.executing() == []
    assert CallLog.calls == []
    assert again.result.outputs["2"] == {"text": ["6"]}


def test_a_cycle_created_by_expansion_fails_blaming_the_expanding_node(harness):
    prompt = {
        "1": {"class_type": "ExpandCycle", "inputs": {"value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt)
    assert run.result.status is RunStatus.ERROR
    error = run.of(EventType.EXECUTION_ERROR)[0]
    assert error["exception_type"] == DEPENDENCY_CYCLE_ERROR
    assert error["exception_message"] == "Dependency cycle detected"
    assert error["node_id"] == "1"


def test_an_expansion_reusing_an_existing_id_fails(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "ExpandDuplicate", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    run = harness.run(prompt)
    error = run.of(EventType.EXECUTION_ERROR)[0]
    assert error["node_id"] == "2"
    assert "Attempt to add duplicate node 1" in error["exception_message"]


def blocker_prompt(block: bool, message: str) -> dict:
    return {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Block", "inputs": {"value": ["1", 0], "block": block, "message": message}},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": 1}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }


def test_blocker_with_message_reports_once_and_the_run_succeeds(harness):
    run = harness.run(blocker_prompt(True, "no thanks"))
    assert run.result.status is RunStatus.SUCCESS
    notices = run.of(EventType.EXECUTION_ERROR)
    assert len(notices) == 1
    notice = notices[0]
    assert notice["node_id"] == "3"
    assert notice["node_type"] == "Add"
    assert notice["exception_type"] == EXECUTION_BLOCKED
    assert notice["exception_message"] == "Execution Blocked: no thanks"
    assert notice["traceback"] == [] and notice["current_inputs"] == [] and notice["current_outputs"] == []
    assert "timestamp" not in notice
    assert CallLog.count("Add") == 0
    assert "4" not in run.result.outputs and "5" in run.result.outputs
    assert "3" in run.executing() and "4" in run.executing()
    assert [m[0] for m in run.result.messages] == ["execution_start", "execution_cached", "execution_success"]


def test_blocker_without_message_skips_silently(harness):
    run = harness.run(blocker_prompt(True, ""))
    assert run.result.status is RunStatus.SUCCESS
    assert run.of(EventType.EXECUTION_ERROR) == []
    assert "4" not in run.result.outputs
    assert not [e for e in run.of(EventType.EXECUTED) if e["node"] == "4"]


def test_unblocked_value_flows_normally(harness):
    assert harness.run(blocker_prompt(False, "x")).result.outputs["4"] == {"text": ["2"]}
