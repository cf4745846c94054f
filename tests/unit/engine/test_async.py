"""Async node functions overlap (execution.md §7.8)."""

from impasto.engine.runner import RunStatus
from impasto.protocol.events import EventType
from tests.support.testnodes import Sleep


def test_three_async_sleeps_overlap(harness):
    prompt = {}
    for i in range(3):
        prompt[f"s{i}"] = {"class_type": "Sleep", "inputs": {"value": i, "seconds": 1.0}}
        prompt[f"o{i}"] = {"class_type": "Output", "inputs": {"value": [f"s{i}", 0]}}
    run = harness.run(prompt)
    assert run.result.status is RunStatus.SUCCESS
    assert {run.result.outputs[f"o{i}"]["text"][0] for i in range(3)} == {"0", "1", "2"}
    # Overlap, not speed: every sleep started before the first one ended.
    assert len(Sleep.spans) == 3
    assert max(start for start, _ in Sleep.spans) < min(end for _, end in Sleep.spans)


def test_async_output_node_runs(harness):
    run = harness.run({"1": {"class_type": "SleepOutput", "inputs": {"value": 4, "seconds": 0.01}}})
    assert run.result.outputs["1"] == {"text": ["4"]}


def test_an_async_exception_fails_the_node(harness):
    prompt = {
        "1": {"class_type": "AsyncFail", "inputs": {"value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt)
    assert run.result.status is RunStatus.ERROR
    error = run.of(EventType.EXECUTION_ERROR)[0]
    assert error["node_id"] == "1"
    assert error["exception_type"] == "ValueError"
    assert error["exception_message"] == "async boom\n"


def test_async_node_executes_once_although_staged_twice(harness):
    prompt = {
        "1": {"class_type": "Sleep", "inputs": {"value": 1, "seconds": 0.05}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt)
    assert run.executing().count("1") == 1
