"""Lazy inputs (execution.md §7.3) and list mapping (§7.4)."""

from impasto.engine.runner import RunStatus
from impasto.protocol.events import EventType
from tests.support.testnodes import CallLog


def lazy_prompt(select: int) -> dict:
    return {
        "1": {"class_type": "Const", "inputs": {"value": 10}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Const", "inputs": {"value": 20}},
        "4": {"class_type": "Add", "inputs": {"a": ["3", 0], "b": 2}},
        "5": {"class_type": "LazySwitch", "inputs": {"select": select, "on_true": ["2", 0], "on_false": ["4", 0]}},
        "6": {"class_type": "Output", "inputs": {"value": ["5", 0]}},
    }


def test_lazy_input_not_requested_never_runs(harness):
    run = harness.run(lazy_prompt(1))
    assert run.result.outputs["6"] == {"text": ["11"]}
    assert "3" not in run.executing() and "4" not in run.executing()


def test_lazy_node_is_staged_again_after_its_request(harness):
    run = harness.run(lazy_prompt(0))
    order = run.executing()
    assert order == ["5", "3", "4", "5", "6"]
    assert CallLog.count("LazySwitch.check") == 2
    assert CallLog.count("LazySwitch") == 1
    assert run.result.outputs["6"] == {"text": ["22"]}


def test_lazy_request_for_an_unknown_input_fails_the_run(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "LazyAskUnknown", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    run = harness.run(prompt)
    assert run.result.status is RunStatus.ERROR
    error = run.of(EventType.EXECUTION_ERROR)[0]
    assert error["node_id"] == "2"
    assert "no_such_input" in error["exception_message"]


def test_list_output_maps_downstream_nodes_per_element(harness):
    prompt = {
        "1": {"class_type": "Range", "inputs": {"count": 4}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 10}},
        "3": {"class_type": "ListOutput", "inputs": {"value": ["2", 0]}},
    }
    run = harness.run(prompt)
    assert CallLog.count("Add") == 4
    assert run.result.outputs["3"] == {"values": [[10, 11, 12, 13]]}


def test_shorter_lists_repeat_their_last_element(harness):
    prompt = {
        "1": {"class_type": "Range", "inputs": {"count": 3}},
        "2": {"class_type": "Range", "inputs": {"count": 2}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
        "4": {"class_type": "ListOutput", "inputs": {"value": ["3", 0]}},
    }
    assert harness.run(prompt).result.outputs["4"] == {"values": [[0, 2, 3]]}


def test_input_is_list_node_gets_whole_lists(harness):
    prompt = {
        "1": {"class_type": "Range", "inputs": {"count": 5}},
        "2": {"class_type": "Sum", "inputs": {"values": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    run = harness.run(prompt)
    assert CallLog.count("Sum") == 1
    assert run.result.outputs["3"] == {"text": ["10"]}


def test_ui_of_several_calls_is_merged(harness):
    prompt = {
        "1": {"class_type": "Range", "inputs": {"count": 3}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt)
    assert run.result.outputs["2"] == {"text": ["0", "1", "2"]}
    assert len(run.of(EventType.EXECUTED)) == 1


def test_empty_list_output_calls_consumers_without_arguments(harness):
    prompt = {
        "1": {"class_type": "Range", "inputs": {"count": 0}},
        "2": {"class_type": "Sum", "inputs": {"values": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    assert harness.run(prompt).result.outputs["3"] == {"text": ["0"]}
