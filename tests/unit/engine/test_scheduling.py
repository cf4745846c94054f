"""Which nodes run and in what order (execution.md §5-6)."""

from impasto.protocol.events import EventType
from tests.support.testnodes import CallLog


def test_only_nodes_needed_by_outputs_run(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Const", "inputs": {"value": 2}},
        "3": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    run = harness.run(prompt)
    assert run.executing() == ["1", "3"]


def test_partial_execution_targets_run_only_the_named_outputs(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Const", "inputs": {"value": 3}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    run = harness.run(prompt, targets=["4"])
    assert run.executing() == ["3", "4"]


def test_output_nodes_are_preferred_so_previews_come_early(harness):
    # Two independent branches: each output runs as soon as its input is ready.
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "Const", "inputs": {"value": 4}},
        "5": {"class_type": "Add", "inputs": {"a": ["4", 0], "b": 1}},
        "6": {"class_type": "Output", "inputs": {"value": ["5", 0]}},
    }
    order = harness.run(prompt).executing()
    assert order.index("3") < order.index("4") or order.index("6") < order.index("1")
    assert order.index("2") < order.index("3") and order.index("5") < order.index("6")


def test_identical_subgraphs_under_other_ids_share_one_execution(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 5}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Const", "inputs": {"value": 5}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    run = harness.run(prompt)
    assert CallLog.count("Const") == 1
    assert run.result.outputs["2"] == run.result.outputs["4"]


def test_a_deep_chain_runs_without_recursion_limits(harness):
    prompt = {"0": {"class_type": "Const", "inputs": {"value": 0}}}
    for i in range(1, 3000):
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "Output", "inputs": {"value": ["2999", 0]}}
    run = harness.run(prompt)
    assert run.result.outputs["out"] == {"text": ["2999"]}


def test_undeclared_linked_inputs_are_passed_and_undeclared_constants_ignored(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 2}},
        "2": {"class_type": "Const", "inputs": {"value": 3}},
        "3": {"class_type": "Variadic", "inputs": {"x": ["1", 0], "y": ["2", 0], "z": 100}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    assert harness.run(prompt).result.outputs["4"] == {"text": ["5"]}


def test_hidden_inputs_are_filled(harness):
    from tests.support.testnodes import Hidden

    prompt = {"7": {"class_type": "Hidden", "inputs": {"value": 1}}}
    extra = {"client_id": "c1", "extra_pnginfo": {"workflow": {"nodes": []}}}
    harness.run(prompt, extra_data=extra, sensitive={"auth_token_comfy_org": "secret"})
    seen = Hidden.seen[0]
    assert seen["prompt"]["7"]["class_type"] == "Hidden"
    assert seen["dynprompt"].get_node("7")["class_type"] == "Hidden"
    assert seen["extra"] == {"workflow": {"nodes": []}}
    assert seen["unique_id"] == "7"
    assert seen["auth"] == "secret"


def test_node_instances_are_reused_per_id_and_class(harness):
    prompt = {
        "1": {"class_type": "Changing", "inputs": {"token": "a", "value": 1}},
        "2": {"class_type": "Counter", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    assert harness.run(prompt).result.outputs["3"] == {"text": ["1"]}
    prompt["1"]["inputs"]["token"] = "b"  # forces node 2 to run again, on the same instance
    assert harness.run(prompt).result.outputs["3"] == {"text": ["2"]}


def test_instances_of_nodes_absent_from_the_prompt_are_dropped(harness):
    first = {
        "1": {"class_type": "Changing", "inputs": {"token": "a", "value": 1}},
        "2": {"class_type": "Counter", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    harness.run(first)
    other = {"9": {"class_type": "Output", "inputs": {"value": 1}}}
    harness.run(other)
    first["1"]["inputs"]["token"] = "b"
    assert harness.run(first).result.outputs["3"] == {"text": ["1"]}


def test_history_outputs_include_cached_ui_of_outputs_not_run(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Const", "inputs": {"value": 3}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    harness.run(prompt)
    run = harness.run(prompt, targets=["4"])
    assert set(run.result.outputs) == {"2", "4"}
    assert run.result.meta["2"] == {"node_id": "2", "display_node": "2", "parent_node": None, "real_node_id": "2"}
    assert run.of(EventType.EXECUTED)[0]["node"] == "4"


def test_a_raw_link_input_receives_the_link_itself(harness):
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "RawLink", "inputs": {"source": ["1", 0]}},
    }
    run = harness.run(prompt)
    assert run.result.outputs["2"] == {"link": [["1", 0]]}
