"""Property tests: validation never raises and answers in the spec's shape; an accepted prompt runs without raising.

Prompts are built from the test node packs (tests/support), with unknown classes, dangling and malformed links,
wrong types, cycles, huge ints, NaN and infinities, nested junk values and non-object nodes and inputs mixed in.
Only classes that terminate quickly are used (no sleeps, no unbounded loops).
"""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from impasto.engine.cache import CacheSettings
from impasto.engine.events import Event
from impasto.engine.registry import NodeRegistry
from impasto.engine.runner import Engine, RunRequest, RunResult, RunStatus
from impasto.engine.validation import validate_locally
from impasto.graph.catalog import InputDef, NodeDef
from impasto.graph.validate import ValidationResult
from impasto.protocol.errors import NodeErrorType, PromptErrorType
from tests.support import testnodes, validation_nodes

# An allow-list, so that a slow class added to the test pack later (sleeps, unbounded loops, progress reports,
# gc.collect) does not slip in: every class here finishes at once for any input.
FAST_TEST_NODES = [
    "Const",
    "Add",
    "Fail",
    "Output",
    "ListOutput",
    "Range",
    "Sum",
    "LazySwitch",
    "LazyAskUnknown",
    "Block",
    "Hidden",
    "Variadic",
    "Changing",
    "NotIdempotent",
    "Counter",
    "ExpandOutput",
    "ExpandCycle",
    "ExpandDuplicate",
    "PrefixProbe",
    "Validated",
    "MakePayload",
    "ConsumePayload",
]
CLASSES: dict[str, type] = {name: testnodes.ALL[name] for name in FAST_TEST_NODES} | validation_nodes.ALL
NAMES = sorted(CLASSES)
OUTPUT_NAMES = sorted(name for name, cls in CLASSES.items() if getattr(cls, "OUTPUT_NODE", False) is True)

VALIDATION_TOP_TYPES = {
    PromptErrorType.INVALID_PROMPT,
    PromptErrorType.MISSING_NODE_TYPE,
    PromptErrorType.PROMPT_NO_OUTPUTS,
    PromptErrorType.PROMPT_OUTPUTS_FAILED_VALIDATION,
}
NODE_TYPES = {str(t) for t in NodeErrorType}
ERROR_KEYS = {"type", "message", "details", "extra_info"}
EXECUTION_ERROR_KEYS = {
    "prompt_id",
    "node_id",
    "node_type",
    "executed",
    "exception_message",
    "exception_type",
    "traceback",
    "current_inputs",
    "current_outputs",
}


@cache
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    for name, cls in CLASSES.items():
        registry.register(name, cls)
    return registry


@cache
def catalog() -> dict[str, NodeDef]:
    return registry().catalog()


INPUT_NAMES = sorted({name for node_def in catalog().values() for name in node_def.inputs})
IDS = [str(i) for i in range(1, 8)]

# --- strategies -------------------------------------------------------------------------------------------

# Built when drawn: hypothesis cannot repr an int past Python's 4300-digit limit while describing a strategy.
huge = st.sampled_from([(1, 400), (-1, 400), (1, 5000), (-1, 5000), (1, 19), (-1, 19)]).map(lambda p: p[0] * 10 ** p[1])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["", "0", "5", "-3", "1e400", "nan", "raise", "red", "option3", "abc"]),
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
        st.builds(lambda v: {"__value__": v}, children),
        st.builds(lambda v: {"__type__": "CURVE", "__value__": v}, children),
    ),
    max_leaves=10,
)
node_ids = st.one_of(st.sampled_from(IDS), st.text(max_size=3))
indices = st.one_of(
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([0.0, 1.0, 0.5, -0.0, math.nan, math.inf, -math.inf, 10**30, 1e300, True, False]),
)
links = st.builds(lambda source, index: [source, index], node_ids, indices)
malformed_links = st.one_of(
    st.lists(st.one_of(node_ids, indices), max_size=4),
    st.builds(lambda index: [None, index], indices),
    st.builds(lambda source: [source, "0"], node_ids),
)
values = st.one_of(links, malformed_links, junk)
class_types = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES),
    st.sampled_from(["NoSuchNode", "", "const", "Output "]),
    scalars,
)
inputs = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(INPUT_NAMES), st.text(max_size=4)), values, max_size=5),
    junk,
)


@st.composite
def junk_nodes(draw: st.DrawFn) -> Any:
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(junk)
    node: dict[str, Any] = {}
    if shape != 1:
        node["class_type"] = draw(class_types)
    if shape != 2:
        node["inputs"] = draw(inputs)
    if draw(st.booleans()):
        node["_meta"] = draw(st.one_of(junk, st.fixed_dictionaries({"title": junk})))
    return node


junk_prompts = st.one_of(
    st.dictionaries(node_ids, junk_nodes(), max_size=7),
    st.dictionaries(node_ids, junk_nodes(), max_size=7),
    junk,
)
targets = st.one_of(st.none(), st.lists(node_ids, max_size=4), st.sets(node_ids, max_size=4))


def plausible_constant(draw: st.DrawFn, input_def: InputDef) -> Any:
    """A constant that usually fits the input's declaration, sometimes just off it."""
    if draw(st.integers(0, 24)) == 0:
        return draw(junk)
    options = input_def.options
    combo = input_def.combo_options
    if combo is not None:
        return draw(st.one_of(st.sampled_from(combo), st.sampled_from(combo), st.just("not-an-option")))
    kind = input_def.type
    if kind == "INT":
        low = options.get("min", -20)
        high = options.get("max", 20)
        return draw(
            st.one_of(
                st.integers(max(low, -20), min(high, 20)),
                st.integers(max(low, -20), min(high, 20)).map(str),
                st.integers(low - 2, low) if isinstance(low, int) else st.just(0),
                huge,
                st.sampled_from([2.5, True, "x", math.nan]),
            )
        )
    if kind == "FLOAT":
        low = options.get("min", -5.0)
        high = options.get("max", 5.0)
        return draw(
            st.one_of(
                st.floats(low, high),
                st.floats(low, high),
                st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, "0.5", "x", 3]), huge),
            )
        )
    if kind == "STRING":
        return draw(st.one_of(st.text(max_size=5), st.sampled_from(["nan", "raise", "same"]), scalars))
    if kind == "BOOLEAN":
        return draw(st.one_of(st.booleans(), st.sampled_from([0, 1, "", "false", None])))
    # a wrapped constant list that unwraps to a link shape: validation stores it unwrapped, as ComfyUI does
    wrapped_link = st.builds(lambda link: {"__value__": link}, links)
    return draw(st.one_of(st.integers(-5, 5), st.integers(-5, 5), junk, wrapped_link))


@st.composite
def plausible_prompts(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    """Graphs that often validate: mostly well-typed links to earlier nodes, plus a share of mistakes."""
    count = draw(st.integers(1, 7))
    ids = IDS[:count]
    prompt: dict[str, Any] = {}
    for position, node_id in enumerate(ids):
        last = position == count - 1
        class_type = draw(st.sampled_from(OUTPUT_NAMES if last or draw(st.integers(0, 3)) == 0 else NAMES))
        node_def = catalog()[class_type]
        node_inputs: dict[str, Any] = {}
        for name, input_def in node_def.inputs.items():
            roll = draw(st.integers(0, 29))
            if roll == 0 or (roll < 4 and input_def.section == "optional"):
                continue  # absent
            earlier = ids[:position]
            link_only = not isinstance(input_def.type, str) or input_def.type not in {
                "INT",
                "FLOAT",
                "STRING",
                "BOOLEAN",
                "COMBO",
            }
            wants_link = earlier and (roll < 15 or (link_only and roll < 27))
            if wants_link:
                node_inputs[name] = [draw(st.sampled_from(earlier)), draw(st.sampled_from([0, 0, 0, 0.0, 1]))]
            elif roll == 29:
                node_inputs[name] = draw(st.one_of(links, malformed_links))  # anywhere: cycles, dangling
            else:
                node_inputs[name] = plausible_constant(draw, input_def)
        if draw(st.integers(0, 5)) == 0:
            extra = draw(st.one_of(st.sampled_from(["extra", "more"]), st.sampled_from(INPUT_NAMES)))
            if extra not in node_def.inputs:  # undeclared: a link is passed on, a constant ignored
                source = st.sampled_from(ids)
                node_inputs[extra] = draw(st.one_of(st.builds(lambda s, i: [s, i], source, indices), junk))
        node: dict[str, Any] = {"class_type": class_type, "inputs": node_inputs}
        if draw(st.integers(0, 5)) == 0:
            node["_meta"] = {"title": draw(st.text(max_size=5))}
        prompt[node_id] = node
    chosen = draw(st.one_of(st.none(), st.none(), st.lists(st.sampled_from([*ids, "nope"]), max_size=3)))
    return prompt, chosen


# --- checks -----------------------------------------------------------------------------------------------


def assert_error_shape(error: Any) -> None:
    assert isinstance(error, dict)
    assert set(error) == ERROR_KEYS
    assert isinstance(error["type"], str)
    assert isinstance(error["message"], str)
    assert isinstance(error["details"], str)
    assert isinstance(error["extra_info"], dict)


def assert_validation_shape(result: ValidationResult, prompt: Any) -> None:
    assert isinstance(result, ValidationResult)
    assert isinstance(result.outputs, list)
    assert isinstance(result.node_errors, dict)
    assert isinstance(result.prompt, dict)
    if result.error is None:
        assert result.outputs, "an accepted prompt has outputs to run"
        assert isinstance(prompt, dict)
        assert set(result.outputs) <= set(result.prompt)
        assert len(set(result.outputs)) == len(result.outputs)
    else:
        assert_error_shape(result.error)
        assert result.error["type"] in VALIDATION_TOP_TYPES
        assert result.outputs == []
        if result.error["type"] != PromptErrorType.PROMPT_OUTPUTS_FAILED_VALIDATION:
            assert result.node_errors == {}
        else:
            assert result.node_errors, "failed outputs name the nodes at fault"
    for node_id, entry in result.node_errors.items():
        assert set(entry) == {"errors", "dependent_outputs", "class_type"}
        assert node_id in result.prompt
        assert entry["class_type"] == result.prompt[node_id]["class_type"]
        assert entry["errors"], "only nodes with errors of their own are listed"
        assert entry["dependent_outputs"] and all(o not in result.outputs for o in entry["dependent_outputs"])
        for error in entry["errors"]:
            assert_error_shape(error)
            assert error["type"] in NODE_TYPES


def assert_run_shape(result: RunResult, request: RunRequest, events: list[Any] | None = None) -> None:
    assert isinstance(result, RunResult)
    assert result.status in {RunStatus.SUCCESS, RunStatus.ERROR, RunStatus.INTERRUPTED}
    assert isinstance(result.outputs, dict)
    assert isinstance(result.meta, dict)
    assert isinstance(result.executed, list)
    assert [m[0] for m in result.messages][:2] == ["execution_start", "execution_cached"]
    if result.status is RunStatus.ERROR:
        assert result.error is not None
    if result.error is not None:
        assert set(result.error) >= EXECUTION_ERROR_KEYS
        assert result.error["prompt_id"] == request.prompt_id
        assert isinstance(result.error["exception_message"], str)
        assert isinstance(result.error["exception_type"], str)
        assert isinstance(result.error["traceback"], list)
    if result.status is RunStatus.SUCCESS:
        assert result.messages[-1][0] == "execution_success"
    assert result.status is not RunStatus.INTERRUPTED  # nothing cancels these runs
    if events is not None:
        sent = [e.type.value for e in events if isinstance(e, Event)]
        assert sent and sent[-1] == result.messages[-1][0], "the terminal message is the last event"


def validate_and_check(prompt: Any, chosen: Any) -> ValidationResult:
    before = copy.deepcopy(prompt)
    result = validate_locally(prompt, registry(), chosen)
    assert_validation_shape(result, prompt)
    assert repr_safe_equal(prompt, before), "validation must not mutate its input"
    return result


def repr_safe_equal(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself (junk values carry NaNs)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(repr_safe_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(repr_safe_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def run_twice(validation: ValidationResult) -> None:
    """Run an accepted prompt on a fresh engine, then again (the second run reads the cache)."""
    engine = Engine(registry(), CacheSettings())
    for attempt in range(2):
        request = RunRequest(
            prompt_id=f"fuzz-{attempt}",
            prompt=validation.prompt,
            outputs=validation.outputs,
            extra_data={"client_id": "fuzz", "extra_pnginfo": {"workflow": {}}},
            sensitive={},
        )
        events: list[Any] = []
        result = engine.run_sync(request, events.append)
        assert_run_shape(result, request, events)
        event(f"run {attempt}: {result.status.value}")


# --- properties -------------------------------------------------------------------------------------------


# Sized so that the whole file runs in well under a minute on two cores.
def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz(1500)
@given(prompt=junk_prompts, chosen=targets)
def test_validation_of_junk_never_raises_and_answers_in_the_spec_shape(prompt, chosen):
    validate_and_check(prompt, chosen)


@fuzz(1000)
@given(case=plausible_prompts())
def test_an_accepted_prompt_runs_without_raising(case):
    prompt, chosen = case
    validation = validate_and_check(prompt, chosen)
    event("accepted" if validation.error is None else f"rejected: {validation.error['type']}")
    if validation.ok:
        run_twice(validation)


@fuzz(1000)
@given(class_type=st.sampled_from(NAMES), name=st.sampled_from(INPUT_NAMES), value=values)
def test_any_single_input_value_is_judged_without_raising(class_type, name, value):
    prompt = {"1": {"class_type": class_type, "inputs": {name: value}}, "2": {"class_type": "Output", "inputs": {}}}
    prompt["2"]["inputs"]["value"] = ["1", 0]
    validate_and_check(prompt, None)


@fuzz(300)
@given(
    edges=st.lists(st.tuples(st.sampled_from(IDS), st.sampled_from(IDS)), max_size=12),
    lazy=st.booleans(),
)
def test_cycles_are_reported_on_their_nodes_and_spare_the_rest(edges, lazy):
    # Loop nodes linked by the drawn edges, each feeding its own Output; a constant feeds every chain start.
    prompt: dict[str, Any] = {"c": {"class_type": "Const", "inputs": {"value": 1}}}
    sources: dict[str, list[str]] = {node: [] for node in IDS}
    for target, source in edges:
        sources[target].append(source)
    for node in IDS:
        first = sources[node][0] if sources[node] else "c"
        node_inputs: dict[str, Any] = {"a": [first, 0]}
        if len(sources[node]) > 1:
            node_inputs["lazy" if lazy else "extra"] = [sources[node][1], 0]
        prompt[node] = {"class_type": "Loop", "inputs": node_inputs}
        prompt[f"out{node}"] = {"class_type": "Output", "inputs": {"value": [node, 0]}}
    used = {node: sources[node][:2] for node in IDS}
    result = validate_and_check(prompt, None)
    on_cycle = {n for n, e in result.node_errors.items() if e["errors"][0]["type"] == "dependency_cycle"}
    assert on_cycle == set(result.node_errors)
    for node in IDS:
        reach = reachable(node, used)
        failed = f"out{node}" not in result.outputs
        assert failed == any(n in on_cycle for n in reach)
        if node in reach_from_itself(node, used):
            assert node in on_cycle
    if result.ok:
        run_twice(result)


def reachable(node: str, graph: dict[str, list[str]]) -> set[str]:
    seen = {node}
    todo = [node]
    while todo:
        for nxt in graph.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def reach_from_itself(node: str, graph: dict[str, list[str]]) -> set[str]:
    """The nodes reachable from `node` by at least one edge."""
    result: set[str] = set()
    for nxt in graph.get(node, []):
        result |= reachable(nxt, graph)
    return result


# --- inputs the fuzzing once found to crash the engine ---------------------------------------------------


def run_once(prompt: dict[str, Any]) -> None:
    validation = validate_and_check(prompt, None)
    assert validation.ok, validation.node_errors
    request = RunRequest(prompt_id="bug", prompt=validation.prompt, outputs=validation.outputs)
    assert_run_shape(Engine(registry(), CacheSettings()).run_sync(request), request)


@pytest.mark.parametrize("index", [math.inf, -math.inf, math.nan])
def test_an_undeclared_link_with_a_non_finite_index_does_not_crash_the_engine(index):
    run_once(
        {
            "1": {"class_type": "Const", "inputs": {"value": 1}},
            "2": {"class_type": "Variadic", "inputs": {"extra": ["1", index]}},
            "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        }
    )


@pytest.mark.parametrize("value", [10**5000, {"a": [-(10**5000)]}], ids=["top-level", "nested"])
def test_an_int_constant_past_the_digit_limit_does_not_crash_the_engine(value):
    run_once({"1": {"class_type": "Output", "inputs": {"value": value}}})


def test_a_link_index_past_the_digit_limit_does_not_crash_the_engine():
    run_once(
        {
            "1": {"class_type": "Const", "inputs": {"value": 1}},
            "2": {"class_type": "Variadic", "inputs": {"extra": ["1", 10**5000]}},
            "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
        }
    )
