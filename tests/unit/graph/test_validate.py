"""Prompt validation: each rule of execution.md §3 and each error shape of http-api.md §3.2."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from impasto.engine.registry import NodeRegistry
from impasto.engine.validation import local_validate_hook, validate_locally
from impasto.graph.catalog import CatalogEntryJson, NodeDef, catalog_from_json
from impasto.graph.validate import ValidationResult, validate_prompt
from impasto.protocol.errors import ErrorInfo
from tests.support import testnodes, validation_nodes
from tests.support.validation_nodes import ANYTHING, COLORS, MANY, Seen

BAD_LINK = "Bad linked input, must be a length-2 list of [node_id, slot_index]"


@pytest.fixture(autouse=True)
def _reset_seen() -> Iterator[None]:
    Seen.reset()
    yield
    Seen.reset()


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    for name, cls in {**testnodes.ALL, **validation_nodes.ALL}.items():
        registry.register(name, cls)
    return registry


@pytest.fixture
def validate(registry):
    def run(prompt: Any, targets: list[str] | None = None) -> ValidationResult:
        return validate_locally(prompt, registry, targets)

    return run


def config(registry: NodeRegistry, class_type: str, name: str) -> list[Any]:
    """The `input_config` an error reports for one input: its declaration as JSON."""
    return registry.catalog()[class_type].inputs[name].config


def own_errors(result: ValidationResult, node_id: str) -> list[ErrorInfo]:
    return result.node_errors[node_id]["errors"]


def only_error(result: ValidationResult, node_id: str) -> ErrorInfo:
    errors = own_errors(result, node_id)
    assert len(errors) == 1, errors
    return errors[0]


def assert_failed(result: ValidationResult) -> None:
    assert result.error is not None
    assert result.error["type"] == "prompt_outputs_failed_validation"
    assert result.error["message"] == "Prompt outputs failed validation"
    assert result.error["extra_info"] == {}
    assert result.outputs == []


def const(value: Any) -> dict[str, Any]:
    return {"class_type": "Const", "inputs": {"value": value}}


def sink(**inputs: Any) -> dict[str, Any]:
    return {"class_type": "Sink", "inputs": inputs}


# --- top-level rejections ---------------------------------------------------------------------------------


def test_a_node_without_class_type_is_an_invalid_prompt(validate):
    result = validate({"1": const(1), "2": {"inputs": {"value": ["1", 0]}}})
    assert result.error == {
        "type": "invalid_prompt",
        "message": "Cannot execute because a node is missing the class_type property.",
        "details": "Node ID '#2'",
        "extra_info": {},
    }
    assert result.outputs == [] and result.node_errors == {}


@pytest.mark.parametrize("prompt", [[], "prompt", None, 3, [["1", 0]]])
def test_a_prompt_that_is_not_an_object_is_an_invalid_prompt(validate, prompt):
    result = validate(prompt)
    assert result.error is not None
    assert result.error["type"] == "invalid_prompt"
    assert result.error["extra_info"] == {}
    assert isinstance(result.error["message"], str) and isinstance(result.error["details"], str)
    assert result.outputs == [] and result.node_errors == {}


@pytest.mark.parametrize("node", [5, "Const", ["Const"], None])
def test_a_node_that_is_not_an_object_is_an_invalid_prompt(validate, node):
    result = validate({"1": {"class_type": "Output", "inputs": {"value": 1}}, "7": node})
    assert result.error == {
        "type": "invalid_prompt",
        "message": "Cannot execute because a node is missing the class_type property.",
        "details": "Node ID '#7'",
        "extra_info": {},
    }


def test_an_unknown_class_is_missing_node_type_named_by_its_title(validate):
    prompt = {
        "1": {"class_type": "Output", "inputs": {"value": 1}},
        "5": {"class_type": "NoSuchNode", "inputs": {}, "_meta": {"title": "My Fancy Node"}},
    }
    result = validate(prompt)
    assert result.error == {
        "type": "missing_node_type",
        "message": "Node 'My Fancy Node' not found. The custom node may not be installed.",
        "details": "Node ID '#5'",
        "extra_info": {"node_id": "5", "class_type": "NoSuchNode", "node_title": "My Fancy Node"},
    }
    assert result.outputs == [] and result.node_errors == {}


@pytest.mark.parametrize("meta", [None, {}, {"title": ""}, "junk"])
def test_an_unknown_class_without_a_title_is_named_by_its_class_type(validate, meta):
    node: dict[str, Any] = {"class_type": "NoSuchNode", "inputs": {}}
    if meta is not None:
        node["_meta"] = meta
    result = validate({"1": {"class_type": "Output", "inputs": {"value": 1}}, "5": node})
    assert result.error == {
        "type": "missing_node_type",
        "message": "Node 'NoSuchNode' not found. The custom node may not be installed.",
        "details": "Node ID '#5'",
        "extra_info": {"node_id": "5", "class_type": "NoSuchNode", "node_title": "NoSuchNode"},
    }


NO_OUTPUTS = {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}}


def test_a_prompt_without_output_nodes_has_no_outputs(validate):
    result = validate({"1": const(1), "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}}})
    assert result.error == NO_OUTPUTS
    assert result.outputs == [] and result.node_errors == {}


def test_an_empty_prompt_has_no_outputs(validate):
    assert validate({}).error == NO_OUTPUTS


def test_an_empty_target_list_leaves_no_outputs(validate):
    result = validate({"1": const(1), "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}, [])
    assert result.error == NO_OUTPUTS


def test_targets_naming_only_non_output_nodes_leave_no_outputs(validate):
    prompt = {"1": const(1), "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}}}
    assert validate(prompt, ["1", "no-such-node"]).error == NO_OUTPUTS


def test_targets_select_outputs_and_ignore_other_ids(validate):
    prompt = {
        "1": const(1),
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "4": {"class_type": "Needs", "inputs": {}},  # invalid, but not targeted
    }
    result = validate(prompt, ["3", "1", "nope"])
    assert result.error is None
    assert result.outputs == ["3"]
    assert result.node_errors == {}


def test_outputs_are_listed_in_prompt_order(validate):
    prompt = {
        "9": {"class_type": "Output", "inputs": {"value": 1}},
        "1": {"class_type": "Output", "inputs": {"value": 2}},
        "x": const(3),
        "5": {"class_type": "Output", "inputs": {"value": ["x", 0]}},
    }
    assert validate(prompt).outputs == ["9", "1", "5"]


# --- inputs present or absent -----------------------------------------------------------------------------


def test_a_missing_required_input_is_reported_by_name(validate):
    result = validate({"1": {"class_type": "Needs", "inputs": {}}})
    assert_failed(result)
    assert result.node_errors == {
        "1": {
            "errors": [
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "value",
                    "extra_info": {"input_name": "value"},
                }
            ],
            "dependent_outputs": ["1"],
            "class_type": "Needs",
        }
    }


def test_a_node_without_an_inputs_key_misses_its_required_inputs(validate):
    result = validate({"1": {"class_type": "Needs"}})
    assert only_error(result, "1")["type"] == "required_input_missing"


def test_an_absent_optional_input_is_fine(validate):
    result = validate({"1": {"class_type": "Needs", "inputs": {"value": 1}}})
    assert result.error is None
    assert result.outputs == ["1"]
    assert result.node_errors == {}


def test_undeclared_inputs_are_not_checked(validate):
    prompt = {"1": {"class_type": "Needs", "inputs": {"value": 1, "junk": {"a": [1, 2]}, "more": ["x", "y", "z"]}}}
    assert validate(prompt).error is None


# --- links ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        ["1"],  # too short
        ["1", 0, 0],  # too long
        [],
        ["99", 0],  # no such node
        ["1", 1],  # Const has one output
        ["1", -1],
        ["1", 0.5],  # not a whole index
        ["1", True],  # a bool is not an index
        ["1", "0"],
        [1, 0],  # the source must be a string
        [None, 0],
    ],
)
def test_a_malformed_or_dangling_link_is_a_bad_linked_input(validate, registry, link):
    result = validate({"1": const(1), "2": {"class_type": "IntSink", "inputs": {"value": link}}})
    assert_failed(result)
    assert result.node_errors == {
        "2": {
            "errors": [
                {
                    "type": "bad_linked_input",
                    "message": BAD_LINK,
                    "details": "value",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": config(registry, "IntSink", "value"),
                        "received_value": link,
                    },
                }
            ],
            "dependent_outputs": ["2"],
            "class_type": "IntSink",
        }
    }


def test_a_whole_float_output_index_is_a_link(validate):
    result = validate({"1": const(1), "2": {"class_type": "IntSink", "inputs": {"value": ["1", 0.0]}}})
    assert result.error is None and result.outputs == ["2"]


def test_a_linked_output_of_another_type_is_a_return_type_mismatch(validate, registry):
    prompt = {
        "f": {"class_type": "FloatOut", "inputs": {}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["f", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert result.node_errors == {
        "2": {
            "errors": [
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": "value, received_type(FLOAT) mismatch input_type(INT)",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": config(registry, "IntSink", "value"),
                        "received_type": "FLOAT",
                        "linked_node": ["f", 0],
                    },
                }
            ],
            "dependent_outputs": ["2"],
            "class_type": "IntSink",
        }
    }
    assert result.error is not None
    assert result.error["details"] == (
        "Return type mismatch between linked nodes: value, received_type(FLOAT) mismatch input_type(INT)"
    )


@pytest.mark.parametrize(("source", "ok"), [("Const", True), ("FloatOut", True), ("StringOut", False)])
def test_a_comma_union_input_accepts_each_member(validate, source, ok):
    prompt = {"s": {"class_type": source, "inputs": {"value": 1}}, "2": {"class_type": "UnionSink", "inputs": {}}}
    prompt["2"]["inputs"]["value"] = ["s", 0]
    if source != "Const":
        prompt["s"]["inputs"] = {}
    result = validate(prompt)
    assert result.ok is ok
    if not ok:
        error = only_error(result, "2")
        assert error["type"] == "return_type_mismatch"
        assert error["details"] == "value, received_type(STRING) mismatch input_type(FLOAT,INT)"


def test_a_plain_star_input_accepts_any_link(validate):
    prompt = {
        "f": {"class_type": "FloatOut", "inputs": {}},
        "2": {"class_type": "Output", "inputs": {"value": ["f", 0]}},
    }
    assert validate(prompt).error is None


def test_a_plain_star_output_feeds_any_input(validate):
    prompt = {
        "s": {"class_type": "StarOut", "inputs": {}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["s", 0]}},
    }
    assert validate(prompt).error is None


def test_the_catalog_marks_custom_any_types(registry):
    entry = registry.catalog_entry("AnySink")
    assert entry["any_inputs"] == ["value"]
    assert registry.catalog_entry("AnyOut")["any_outputs"] == [0]
    assert registry.catalog_entry("IntSink")["any_inputs"] == []
    catalog = registry.catalog()
    assert catalog["AnySink"].inputs["value"].accepts_any
    assert catalog["AnyOut"].any_outputs == frozenset({0})


def test_a_custom_any_input_accepts_any_link_through_the_catalog(validate):
    prompt = {
        "s": {"class_type": "StringOut", "inputs": {}},
        "2": {"class_type": "AnySink", "inputs": {"value": ["s", 0]}},
    }
    assert validate(prompt).error is None


def test_a_custom_any_output_feeds_any_input_through_the_catalog(validate):
    prompt = {
        "a": {"class_type": "AnyOut", "inputs": {}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["a", 0]}},
    }
    assert validate(prompt).error is None


def in_process_catalog(registry: NodeRegistry) -> dict[str, NodeDef]:
    """A catalog that holds the any-type objects themselves, without any_inputs / any_outputs flags."""
    entries: dict[str, CatalogEntryJson] = {}
    for name in ("AnySink", "AnyOut", "StringOut", "IntSink"):
        entry = registry.catalog_entry(name)
        entry["any_inputs"] = []
        entry["any_outputs"] = []
        entries[name] = entry
    entries["AnySink"]["object_info"]["input"]["required"]["value"] = [ANYTHING]
    entries["AnyOut"]["object_info"]["output"] = [ANYTHING]
    catalog = catalog_from_json(entries)
    assert catalog["AnySink"].inputs["value"].type is ANYTHING
    assert catalog["AnyOut"].outputs[0] is ANYTHING
    return catalog


def test_a_custom_any_type_is_honoured_in_process_on_either_side(registry):
    catalog = in_process_catalog(registry)
    into_any = {
        "s": {"class_type": "StringOut", "inputs": {}},
        "2": {"class_type": "AnySink", "inputs": {"value": ["s", 0]}},
    }
    from_any = {
        "a": {"class_type": "AnyOut", "inputs": {}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["a", 0]}},
    }
    assert validate_prompt(into_any, catalog).error is None
    assert validate_prompt(from_any, catalog).error is None
    # control: the same catalog without the custom type rejects a STRING into an INT
    mismatch = {
        "s": {"class_type": "StringOut", "inputs": {}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["s", 0]}},
    }
    assert only_error(validate_prompt(mismatch, catalog), "2")["type"] == "return_type_mismatch"


def test_input_types_switches_off_type_checks_and_receives_the_linked_types(validate):
    prompt = {
        "s": {"class_type": "StringOut", "inputs": {}},
        "2": {"class_type": "TypesSelf", "inputs": {"value": ["s", 0]}},
    }
    result = validate(prompt)
    assert result.error is None
    assert Seen.of("TypesSelf") == [{"input_types": {"value": "STRING"}, "value": None}]


def test_input_types_is_empty_when_nothing_is_linked(validate):
    assert validate({"2": {"class_type": "TypesSelf", "inputs": {"value": 3}}}).error is None
    assert Seen.of("TypesSelf") == [{"input_types": {}, "value": 3}]


def test_input_types_does_not_excuse_a_dangling_link(validate):
    result = validate({"2": {"class_type": "TypesSelf", "inputs": {"value": ["nowhere", 0]}}})
    assert only_error(result, "2")["type"] == "bad_linked_input"


# --- constants --------------------------------------------------------------------------------------------


def test_an_int_that_cannot_be_parsed_is_an_invalid_input_type(validate, registry):
    result = validate({"1": sink(i="abc")})
    assert_failed(result)
    message = "invalid literal for int() with base 10: 'abc'"
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "invalid_input_type",
            "message": "Failed to convert an input value to a INT value",
            "details": f"i, abc, {message}",
            "extra_info": {
                "input_name": "i",
                "input_config": config(registry, "Sink", "i"),
                "received_value": "abc",
                "exception_message": message,
            },
        }
    ]


def test_a_float_from_an_int_too_large_is_an_invalid_input_type(validate, registry):
    huge = 10**400
    result = validate({"1": sink(f=huge)})
    error = only_error(result, "1")
    assert error["type"] == "invalid_input_type"
    assert error["message"] == "Failed to convert an input value to a FLOAT value"
    assert error["details"] == f"f, {huge}, int too large to convert to float"
    assert error["extra_info"] == {
        "input_name": "f",
        "input_config": config(registry, "Sink", "f"),
        "received_value": huge,
        "exception_message": "int too large to convert to float",
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("f", "invalid_input_type"),
        ("real", "invalid_input_type"),
        ("s", "invalid_input_type"),  # str() of it fails
        ("i", "value_bigger_than_max"),
        ("big", None),
    ],
)
def test_an_int_past_the_string_digit_limit_is_reported_not_raised(validate, name, expected):
    result = validate({"1": sink(**{name: 10**5000})})
    if expected is None:
        assert result.error is None and result.node_errors == {}
        return
    error = only_error(result, "1")
    assert error["type"] == expected
    assert "<int>" in error["message"] + error["details"]


@pytest.mark.parametrize(
    ("name", "given", "stored"),
    [
        ("i", "5", 5),
        ("i", 3.9, 3),
        ("i", True, 1),
        ("big", 10**400, 10**400),
        ("f", "0.5", 0.5),
        ("f", 1, 1.0),
        ("s", 12, "12"),
        ("s", None, "None"),
        ("b", "", False),
        ("b", "false", True),  # Python truthiness, as ComfyUI does
        ("b", 0, False),
        ("b", {"__value__": []}, False),
        ("b", {"x": 1}, True),
    ],
)
def test_constants_are_coerced_into_the_validated_prompt(validate, name, given, stored):
    result = validate({"1": sink(**{name: given})})
    assert result.error is None, result.node_errors
    value = result.prompt["1"]["inputs"][name]
    assert value == stored and type(value) is type(stored)


def test_a_wrapped_constant_list_is_unwrapped(validate):
    result = validate({"1": sink(curve={"__value__": [[0, 0], [1, 1]]}, i={"__value__": "4"})})
    assert result.error is None
    assert result.prompt["1"]["inputs"]["curve"] == [[0, 0], [1, 1]]
    assert result.prompt["1"]["inputs"]["i"] == 4


def test_a_typed_curve_widget_is_unwrapped(validate):
    points = [[0.0, 0.0], [0.5, 0.7], [1.0, 1.0]]
    result = validate({"1": sink(curve={"__type__": "CURVE", "__value__": points})})
    assert result.error is None
    assert result.prompt["1"]["inputs"]["curve"] == points


def test_a_value_below_min_is_reported(validate, registry):
    result = validate({"1": sink(i="-11")})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "value_smaller_than_min",
            "message": "Value -11 smaller than min of -10",
            "details": "i",
            "extra_info": {"input_name": "i", "input_config": config(registry, "Sink", "i"), "received_value": -11},
        }
    ]


def test_a_value_above_max_is_reported(validate, registry):
    result = validate({"1": sink(f=1.5)})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "value_bigger_than_max",
            "message": "Value 1.5 bigger than max of 1.0",
            "details": "f",
            "extra_info": {"input_name": "f", "input_config": config(registry, "Sink", "f"), "received_value": 1.5},
        }
    ]


def test_values_at_the_bounds_are_accepted(validate):
    assert validate({"1": sink(i=-10, f=1.0)}).error is None
    assert validate({"1": sink(i=10, f=0.0)}).error is None


def test_nan_is_neither_below_min_nor_above_max(validate):
    result = validate({"1": sink(f=float("nan"))})
    assert result.error is None


def test_each_bad_input_of_a_node_gets_its_own_error(validate):
    result = validate({"1": sink(i=99, f=-1, s="ok")})
    assert [e["type"] for e in own_errors(result, "1")] == ["value_bigger_than_max", "value_smaller_than_min"]


def test_a_value_outside_a_list_combo_is_not_in_list(validate, registry):
    result = validate({"1": {"class_type": "Combos", "inputs": {"color": "purple"}}})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "value_not_in_list",
            "message": "Value not in list",
            "details": "color: 'purple' not in ['red', 'green', 'blue']",
            "extra_info": {
                "input_name": "color",
                "input_config": [COLORS, {"default": "red"}],
                "received_value": "purple",
            },
        }
    ]
    assert config(registry, "Combos", "color") == [COLORS, {"default": "red"}]


def test_a_value_outside_a_combo_options_declaration_is_not_in_list(validate):
    result = validate({"1": {"class_type": "Combos", "inputs": {"shape": "hexagon"}}})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "value_not_in_list",
            "message": "Value not in list",
            "details": "shape: 'hexagon' not in ['circle', 'square']",
            "extra_info": {
                "input_name": "shape",
                "input_config": ["COMBO", {"options": ["circle", "square"]}],
                "received_value": "hexagon",
            },
        }
    ]


def test_a_long_combo_is_summarised_and_its_config_left_out(validate):
    result = validate({"1": {"class_type": "Combos", "inputs": {"many": "option99"}}})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "value_not_in_list",
            "message": "Value not in list",
            "details": f"many: 'option99' not in (list of length {len(MANY)})",
            "extra_info": {"input_name": "many", "input_config": None, "received_value": "option99"},
        }
    ]


def test_combo_values_in_the_list_are_accepted(validate):
    prompt = {"1": {"class_type": "Combos", "inputs": {"color": "blue", "shape": "square", "many": "option24"}}}
    assert validate(prompt).error is None


# --- VALIDATE_INPUTS --------------------------------------------------------------------------------------


def test_validate_inputs_claims_the_inputs_it_names(validate):
    result = validate({"1": {"class_type": "ClaimRange", "inputs": {"value": "50", "color": "purple", "other": 50}}})
    # value and color are the node's own business; other still gets the range check
    assert [e["type"] for e in own_errors(result, "1")] == ["value_bigger_than_max"]
    assert own_errors(result, "1")[0]["details"] == "other"
    # coercion still happens for a claimed input, before VALIDATE_INPUTS sees it
    assert Seen.of("ClaimRange") == [{"value": 50, "color": "purple"}]
    assert result.prompt["1"]["inputs"]["value"] == 50


def test_a_claimed_input_still_fails_coercion(validate):
    result = validate({"1": {"class_type": "ClaimRange", "inputs": {"value": "lots", "color": "red", "other": 1}}})
    assert only_error(result, "1")["type"] == "invalid_input_type"


def test_validate_inputs_with_kwargs_claims_every_input(validate):
    prompt = {
        "c": const(3),
        "1": {"class_type": "ClaimAll", "inputs": {"value": "50", "color": "purple", "link": ["c", 0]}},
    }
    result = validate(prompt)
    assert result.error is None, result.node_errors
    assert Seen.of("ClaimAll") == [{"value": 50, "color": "purple", "link": None}]


def test_a_string_from_validate_inputs_is_a_custom_validation_failure(validate):
    prompt = {"1": {"class_type": "Validated", "inputs": {"value": 7}}, "2": {"class_type": "IntSink", "inputs": {}}}
    prompt["2"]["inputs"]["value"] = ["1", 0]
    result = validate(prompt)
    assert_failed(result)
    assert result.node_errors == {
        "1": {
            "errors": [
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "value - 7s are not allowed",
                    "extra_info": {"input_name": "value"},
                }
            ],
            "dependent_outputs": ["2"],
            "class_type": "Validated",
        }
    }


def test_false_from_validate_inputs_is_a_custom_validation_failure_without_reason(validate):
    result = validate({"1": {"class_type": "Refuse", "inputs": {"value": 1}}})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "custom_validation_failed",
            "message": "Custom validation failed for node",
            "details": "value",
            "extra_info": {"input_name": "value"},
        }
    ]
    assert result.error is not None
    assert result.error["details"] == "Custom validation failed for node: value"


def test_a_custom_validation_failure_is_reported_once_per_argument(validate):
    result = validate({"1": {"class_type": "RefusePair", "inputs": {"a": "3", "b": 4}}})
    assert result.node_errors["1"]["errors"] == [
        {
            "type": "custom_validation_failed",
            "message": "Custom validation failed for node",
            "details": f"{name} - 3 and 4 do not go together",
            "extra_info": {"input_name": name},
        }
        for name in ("a", "b")
    ]


def test_validate_inputs_skips_the_range_check_of_a_claimed_input(validate):
    prompt = {"1": {"class_type": "Validated", "inputs": {"value": 99}}, "2": {"class_type": "IntSink", "inputs": {}}}
    prompt["2"]["inputs"]["value"] = ["1", 0]
    assert validate(prompt).error is None  # max is 10, but VALIDATE_INPUTS names `value`


def test_without_a_hook_validate_inputs_is_not_called(registry):
    prompt = {"1": {"class_type": "Validated", "inputs": {"value": 7}}, "2": {"class_type": "IntSink", "inputs": {}}}
    prompt["2"]["inputs"]["value"] = ["1", 0]
    assert validate_prompt(prompt, registry.catalog()).error is None
    assert validate_prompt(prompt, registry.catalog(), local_validate_hook(registry)).error is not None


def test_an_exception_in_an_output_nodes_validate_inputs(validate):
    result = validate({"1": {"class_type": "RaiseOut", "inputs": {"value": 4}}})
    assert_failed(result)
    error = only_error(result, "1")
    assert error["type"] == "exception_during_validation"
    assert error["message"] == "Exception when validating node"
    assert error["details"] == "cannot validate 4"
    assert set(error["extra_info"]) == {"exception_type", "traceback"}
    assert error["extra_info"]["exception_type"] == "ValueError"
    traceback = error["extra_info"]["traceback"]
    assert isinstance(traceback, list) and traceback and all(isinstance(line, str) for line in traceback)
    assert any("VALIDATE_INPUTS" in line for line in traceback)
    assert result.node_errors["1"]["dependent_outputs"] == ["1"]
    assert result.error is not None
    assert result.error["details"] == "Exception when validating node: cannot validate 4"


def test_an_exception_in_an_upstream_validate_inputs_is_an_inner_validation_error(validate, registry):
    prompt = {
        "1": {"class_type": "Validated", "inputs": {"value": 13}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["1", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert result.error is not None
    assert result.error["details"] == ""  # the failing output has no error of its own
    assert list(result.node_errors) == ["1"]
    entry = result.node_errors["1"]
    assert entry["dependent_outputs"] == ["2"] and entry["class_type"] == "Validated"
    [error] = entry["errors"]
    assert error["type"] == "exception_during_inner_validation"
    assert error["message"] == "Exception when validating inner node"
    assert error["details"] == "unlucky"
    extra = error["extra_info"]
    assert set(extra) == {
        "input_name",
        "input_config",
        "exception_message",
        "exception_type",
        "traceback",
        "linked_node",
    }
    assert extra["input_name"] == "value"  # the consumer's input
    assert extra["input_config"] == config(registry, "IntSink", "value")
    assert extra["exception_message"] == "unlucky"
    assert extra["exception_type"] == "ValueError"
    assert extra["linked_node"] == ["1", 0]
    assert isinstance(extra["traceback"], list) and all(isinstance(line, str) for line in extra["traceback"])


def test_an_output_upstream_of_another_output_keeps_one_error(validate):
    prompt = {
        "1": {"class_type": "RaiseOut", "inputs": {"value": 1}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["1", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert len(own_errors(result, "1")) == 1
    assert result.node_errors["1"]["dependent_outputs"] == ["1", "2"]
    assert "2" not in result.node_errors


def test_an_async_validate_inputs_is_awaited(validate):
    assert validate({"1": {"class_type": "AsyncValidated", "inputs": {"value": 2}}}).error is None
    result = validate({"1": {"class_type": "AsyncValidated", "inputs": {"value": -2}}})
    assert only_error(result, "1")["details"] == "value - negative"
    assert Seen.of("AsyncValidated") == [{"value": 2}, {"value": -2}]


async def test_an_async_validate_inputs_works_under_a_running_loop(validate):
    result = validate({"1": {"class_type": "AsyncValidated", "inputs": {"value": -2}}})
    assert only_error(result, "1")["type"] == "custom_validation_failed"


def test_validate_inputs_gets_hidden_placeholders_and_none_for_links(validate):
    prompt = {"c": const(1), "h": {"class_type": "HiddenValidated", "inputs": {"value": "2", "link": ["c", 0]}}}
    assert validate(prompt).error is None
    assert Seen.of("HiddenValidated") == [
        {
            "value": 2,
            "link": None,
            "prompt": {},
            "dynprompt": None,
            "extra_pnginfo": None,
            "unique_id": "h",
            "auth": None,
            "api_key": None,
        }
    ]


def test_validate_inputs_runs_once_per_node_shared_by_outputs(validate):
    prompt = {
        "1": {"class_type": "Validated", "inputs": {"value": 3}},
        "2": {"class_type": "IntSink", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "IntSink", "inputs": {"value": ["1", 0]}},
        "4": {"class_type": "AsyncValidated", "inputs": {"value": 1}},
    }
    assert validate(prompt).error is None
    assert Seen.of("AsyncValidated") == [{"value": 1}]


# --- cycles -----------------------------------------------------------------------------------------------


def cycle_error(ids: list[str]) -> ErrorInfo:
    return {
        "type": "dependency_cycle",
        "message": "Dependency cycle detected",
        "details": ", ".join(ids),
        "extra_info": {"cycle": ids},
    }


def test_every_node_of_a_cycle_gets_a_dependency_cycle_error(validate):
    prompt = {
        "1": {"class_type": "Loop", "inputs": {"a": ["3", 0]}},
        "2": {"class_type": "Loop", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "Loop", "inputs": {"a": ["2", 0]}},
        "4": {"class_type": "Add", "inputs": {"a": ["3", 0], "b": 1}},  # downstream, not on the cycle
        "5": {"class_type": "Output", "inputs": {"value": ["4", 0]}},
        "6": const(1),
        "7": {"class_type": "Output", "inputs": {"value": ["6", 0]}},  # does not touch the cycle
    }
    result = validate(prompt)
    assert result.error is None
    assert result.outputs == ["7"]
    assert result.node_errors == {
        node: {"errors": [cycle_error(["1", "2", "3"])], "dependent_outputs": ["5"], "class_type": "Loop"}
        for node in ("1", "2", "3")
    }


def test_a_self_loop_is_a_dependency_cycle(validate):
    prompt = {
        "1": {"class_type": "Loop", "inputs": {"a": ["1", 0]}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert result.node_errors == {
        "1": {"errors": [cycle_error(["1"])], "dependent_outputs": ["2"], "class_type": "Loop"}
    }


def test_a_cycle_through_a_lazy_input_is_a_dependency_cycle(validate):
    prompt = {
        "c": const(0),
        "1": {"class_type": "Loop", "inputs": {"a": ["c", 0], "lazy": ["2", 0]}},
        "2": {"class_type": "Loop", "inputs": {"a": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["c", 0]}},
    }
    result = validate(prompt)
    assert result.error is None and result.outputs == ["4"]
    assert set(result.node_errors) == {"1", "2"}
    assert all(entry["errors"] == [cycle_error(["1", "2"])] for entry in result.node_errors.values())


def test_an_output_on_a_cycle_fails_with_the_cycle_as_its_reason(validate):
    result = validate({"1": {"class_type": "Output", "inputs": {"value": ["1", 0]}}})
    assert_failed(result)
    assert result.error is not None
    assert result.error["details"] == "Dependency cycle detected: 1"


def test_a_cycle_outside_the_targets_is_not_checked(validate):
    prompt = {
        "1": {"class_type": "Loop", "inputs": {"a": ["1", 0]}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": 1}},
    }
    result = validate(prompt, ["3"])
    assert result.error is None and result.node_errors == {}


def test_cycle_ids_are_sorted_and_two_cycles_are_reported_apart(validate):
    prompt = {
        "b": {"class_type": "Loop", "inputs": {"a": ["a", 0]}},
        "a": {"class_type": "Loop", "inputs": {"a": ["b", 0]}},
        "y": {"class_type": "Loop", "inputs": {"a": ["x", 0]}},
        "x": {"class_type": "Loop", "inputs": {"a": ["y", 0]}},
        "o": {"class_type": "Variadic", "inputs": {"p": ["a", 0], "q": ["x", 0]}},
        "out": {"class_type": "Output", "inputs": {"value": ["o", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert {n: e["errors"] for n, e in result.node_errors.items()} == {
        "a": [cycle_error(["a", "b"])],
        "b": [cycle_error(["a", "b"])],
        "x": [cycle_error(["x", "y"])],
        "y": [cycle_error(["x", "y"])],
    }


# --- dropping outputs -------------------------------------------------------------------------------------


def test_failed_outputs_are_dropped_and_the_rest_run(validate):
    prompt = {
        "1": const(5000),  # above max 1000
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": const(1),
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "Needs", "inputs": {}},
    }
    result = validate(prompt)
    assert result.error is None
    assert result.ok
    assert result.outputs == ["4"]
    assert set(result.node_errors) == {"1", "5"}
    assert result.node_errors["1"]["dependent_outputs"] == ["2"]
    assert result.node_errors["1"]["class_type"] == "Const"
    assert result.node_errors["5"]["dependent_outputs"] == ["5"]


def test_all_outputs_failing_joins_the_outputs_own_errors(validate):
    prompt = {
        "1": {"class_type": "Needs", "inputs": {}},
        "2": sink(i=99, f=-1),
        "3": const(5000),
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},  # fails only through "3"
    }
    result = validate(prompt)
    assert result.error == {
        "type": "prompt_outputs_failed_validation",
        "message": "Prompt outputs failed validation",
        "details": "Required input is missing: value\n"
        "Value 99 bigger than max of 10: i\n"
        "Value -1.0 smaller than min of 0.0: f",
        "extra_info": {},
    }
    assert set(result.node_errors) == {"1", "2", "3"}


def test_a_node_failing_only_through_upstream_is_not_listed(validate):
    prompt = {
        "1": const(5000),
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "Add", "inputs": {"a": ["2", 0], "b": ["2", 0]}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert list(result.node_errors) == ["1"]
    assert result.node_errors["1"]["dependent_outputs"] == ["4"]
    assert result.error is not None and result.error["details"] == ""


def test_a_shared_bad_node_names_every_output_that_needed_it(validate):
    prompt = {
        "1": const(5000),
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": 1}},
        "4": {"class_type": "Output", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "Output", "inputs": {"value": 1}},
    }
    result = validate(prompt)
    assert result.error is None and result.outputs == ["5"]
    assert result.node_errors["1"]["dependent_outputs"] == ["2", "4"]


def test_a_node_with_its_own_error_also_blames_its_bad_upstream(validate):
    prompt = {
        "1": const(5000),
        "2": {"class_type": "Add", "inputs": {"a": ["1", 0]}},  # b missing
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    result = validate(prompt)
    assert set(result.node_errors) == {"1", "2"}
    assert only_error(result, "2")["type"] == "required_input_missing"
    assert only_error(result, "1")["type"] == "value_bigger_than_max"


def test_validation_does_not_mutate_the_given_prompt(validate):
    prompt = {
        "1": sink(i="5", b="x", curve={"__type__": "CURVE", "__value__": [[0, 0]]}, s=3),
        "2": {"class_type": "Combos", "inputs": {"color": "nope"}, "_meta": {"title": "C"}},
        "3": {"class_type": "Validated", "inputs": {"value": "4"}},
        "4": {"class_type": "IntSink", "inputs": {"value": ["3", 0]}},
    }
    before = copy.deepcopy(prompt)
    result = validate(prompt)
    assert prompt == before
    assert result.prompt["1"]["inputs"]["i"] == 5
    assert result.prompt["3"]["inputs"]["value"] == 4
    assert result.prompt["1"]["inputs"]["curve"] == [[0, 0]]
    assert result.prompt is not prompt


def test_the_validated_prompt_keeps_every_node_and_its_meta(validate):
    prompt = {
        "1": {"class_type": "Output", "inputs": {"value": 1}, "_meta": {"title": "Shown"}, "is_changed": "x"},
        "2": const(3),
    }
    result = validate(prompt)
    assert set(result.prompt) == {"1", "2"}
    assert result.prompt["1"]["_meta"] == {"title": "Shown"}
    assert result.prompt["1"]["is_changed"] == "x"


def test_a_five_thousand_node_chain_validates_without_recursion(validate):
    prompt: dict[str, Any] = {"0": const(0)}
    for i in range(1, 5000):
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "Output", "inputs": {"value": ["4999", 0]}}
    result = validate(prompt)
    assert result.error is None and result.outputs == ["out"]


def test_an_error_at_the_root_of_a_long_chain_is_found_without_recursion(validate):
    prompt: dict[str, Any] = {"0": const(5000)}
    for i in range(1, 5000):
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "Output", "inputs": {"value": ["4999", 0]}}
    result = validate(prompt)
    assert_failed(result)
    assert list(result.node_errors) == ["0"]


def test_a_five_thousand_node_cycle_is_found_without_recursion(validate):
    prompt: dict[str, Any] = {str(i): {"class_type": "Loop", "inputs": {"a": [str(i - 1), 0]}} for i in range(5000)}
    prompt["0"]["inputs"]["a"] = ["4999", 0]
    prompt["out"] = {"class_type": "Output", "inputs": {"value": ["0", 0]}}
    result = validate(prompt)
    assert_failed(result)
    assert len(result.node_errors) == 5000


def test_the_source_of_an_undeclared_link_is_validated(validate):
    prompt = {
        "1": const(5000),
        "2": {"class_type": "Variadic", "inputs": {"extra": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert list(result.node_errors) == ["1"]
    assert result.node_errors["1"]["dependent_outputs"] == ["3"]


def test_a_cycle_behind_an_undeclared_link_drops_the_output(validate):
    prompt = {
        "1": {"class_type": "Loop", "inputs": {"a": ["1", 0]}},
        "2": {"class_type": "Variadic", "inputs": {"extra": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    result = validate(prompt)
    assert_failed(result)
    assert result.node_errors == {
        "1": {"errors": [cycle_error(["1"])], "dependent_outputs": ["3"], "class_type": "Loop"}
    }


def test_an_undeclared_dangling_link_is_not_checked(validate):
    prompt = {
        "2": {"class_type": "Variadic", "inputs": {"extra": ["nowhere", 0], "more": ["2x", 1, 2]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    assert validate(prompt).error is None


def test_an_upstream_exception_through_an_undeclared_link_has_no_input_config(validate):
    prompt = {
        "1": {"class_type": "Validated", "inputs": {"value": 13}},
        "2": {"class_type": "Variadic", "inputs": {"extra": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    error = only_error(validate(prompt), "1")
    assert error["type"] == "exception_during_inner_validation"
    assert error["extra_info"]["input_name"] == "extra"
    assert error["extra_info"]["input_config"] is None
    assert error["extra_info"]["linked_node"] == ["1", 0]
