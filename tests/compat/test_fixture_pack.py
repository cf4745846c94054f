"""The fixture pack (tests/support/compat_pack) driven over HTTP and WebSocket only, in a server started with
ComfyUI's flags, once per cache mode: what runs, what is cached, error node ids, partial execution, history."""

from __future__ import annotations

import asyncio
import itertools
import struct
from typing import Any

import pytest

from tests.compat.client import Client, Outcome
from tests.compat.harness_server import HarnessServer

pytestmark = pytest.mark.slow

CACHE_MODES = {"classic": ["--cache-classic"], "lru": ["--cache-lru", "50"], "none": ["--cache-none"]}

_values = itertools.count(1)


def unique() -> float:
    """A constant no earlier test used, so a test never hits another's cache entries."""
    return round(0.001 * next(_values), 3)


@pytest.fixture(scope="module", params=list(CACHE_MODES))
def server(request, tmp_path_factory):
    process = HarnessServer(tmp_path_factory.mktemp(f"pack-{request.param}"), *CACHE_MODES[request.param])
    process.mode = request.param  # type: ignore[attr-defined]
    process.start()
    yield process
    process.stop()


def caches(server) -> bool:
    return bool(server.mode != "none")


def run(server, *prompts: dict[str, Any], **extra: Any) -> list[Outcome]:
    async def go() -> list[Outcome]:
        async with Client(server.url) as client:
            return [await client.run(p, **extra) for p in prompts]

    return asyncio.run(go())


def image(value: float, size: int = 8) -> dict:
    return {"class_type": "TestImage", "inputs": {"value": value, "size": size, "batch": 1}}


def show(source: str, index: int = 0) -> dict:
    return {"class_type": "TestShow", "inputs": {"value": [source, index]}}


def text(outcome: Outcome, node: str) -> list[str]:
    return list(outcome.outputs()[node]["text"])


# --- lazy inputs, variadic inputs ---


@pytest.mark.parametrize("mixer", ["TestLazyMix", "TestAsyncLazyMix"])
@pytest.mark.parametrize(
    ("mask", "runs_1", "runs_2", "mean"), [(0.0, True, False, 0.2), (1.0, False, True, 0.8), (0.5, True, True, 0.5)]
)
def test_a_lazy_mixer_evaluates_only_the_branches_its_mask_needs(server, mixer, mask, runs_1, runs_2, mean):
    offset = unique() / 1000  # keeps the means as asserted (rounded) while making the images new
    prompt = {
        "1": image(0.2 + offset),
        "2": image(0.8 + offset),
        "3": {"class_type": "TestMask", "inputs": {"value": mask}},
        "4": {"class_type": mixer, "inputs": {"image1": ["1", 0], "image2": ["2", 0], "mask": ["3", 0]}},
        "5": show("4"),
    }
    (outcome,) = run(server, prompt)
    assert outcome.status_str() == "success", outcome.history
    executed = outcome.executed_nodes()
    assert ("1" in executed, "2" in executed) == (runs_1, runs_2)
    assert float(text(outcome, "5")[0]) == pytest.approx(mean, abs=1e-3)
    assert [d["node"] for d in outcome.of("executing")].count("4") == 2  # staged, then again with its inputs


def test_undeclared_linked_inputs_reach_a_variadic_node_and_undeclared_constants_do_not(server):
    base = unique()
    prompt = {
        "1": image(0.1 + base),
        "2": image(0.2 + base),
        "3": image(0.6 + base),
        "4": {
            "class_type": "TestVariadicAverage",
            "inputs": {"input1": ["1", 0], "input2": ["2", 0], "input3": ["3", 0], "input4": 1.0},
        },
        "5": show("4"),
    }
    (outcome,) = run(server, prompt)
    assert float(text(outcome, "5")[0]) == pytest.approx(0.3 + base, abs=1e-3)


# --- IS_CHANGED and caching ---


def test_is_changed_sees_constants_only_and_its_result_decides_a_rerun(server):
    value = unique()

    def prompt(tag: str) -> dict:
        return {
            "1": image(value),
            "2": {"class_type": "TestMean", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "TestChangedConstant", "inputs": {"value": ["2", 0], "tag": tag}},
            "4": show("3"),
        }

    async def go():
        async with Client(server.url) as client:
            first = await client.run(prompt("a"))
            seen = [e["data"]["seen"] for e in client.extra if e["type"] == "impasto_test.is_changed"]
            again = await client.run(prompt("a"))
            changed = await client.run(prompt("b"))
            return first, seen, again, changed

    first, seen, again, changed = asyncio.run(go())
    assert seen == [[None, "a"]]  # the linked input is None when IS_CHANGED runs
    assert "3" in first.executed_nodes()
    assert ("3" in again.executed_nodes()) is not caches(server)
    assert "3" in changed.executed_nodes() and ("1" in changed.executed_nodes()) is not caches(server)


@pytest.mark.parametrize("node", ["TestChangedNaN", "TestChangedRaises"])
def test_nan_or_raising_is_changed_reruns_the_node_every_time(server, node):
    prompt = {"1": {"class_type": node, "inputs": {"value": unique()}}, "2": show("1")}
    first, second = run(server, prompt, prompt)
    assert first.status_str() == second.status_str() == "success"
    assert "1" in first.executed_nodes() and "1" in second.executed_nodes()
    assert "1" not in second.cached()


def test_an_identical_rerun_is_served_from_cache_with_the_same_files(server):
    prompt = {
        "1": image(unique()),
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "pack/shot"}},
    }

    async def go():
        async with Client(server.url) as client:
            first = await client.run(prompt)
            second = await client.run(prompt)
            (saved,) = first.outputs()["2"]["images"]
            view = await client.get_bytes(
                f"/view?filename={saved['filename']}&subfolder={saved['subfolder']}&type={saved['type']}"
            )
            return first, second, view

    first, second, (status, png) = asyncio.run(go())
    assert status == 200 and png.startswith(b"\x89PNG")
    assert first.outputs()["2"]["images"][0]["subfolder"] == "pack"
    if caches(server):
        assert sorted(second.cached()) == ["1", "2"] and second.of("executing")[:-1] == []
        assert second.outputs()["2"] == first.outputs()["2"]
    else:
        assert second.cached() == [] and second.executed_nodes() == ["1", "2"]
        assert second.outputs()["2"] != first.outputs()["2"]  # a new file


def test_switching_workflows_keeps_the_other_only_with_an_lru_cache(server):
    a = {"1": image(unique()), "2": show("1")}
    b = {"1": image(unique()), "2": show("1")}
    _first, _other, back = run(server, a, b, a)
    assert (back.executed_nodes() == []) is (server.mode == "lru")


# --- validation ---


def post(server, prompt: dict, **extra: Any) -> tuple[int, Any]:
    return server.request("POST", "/prompt", {"prompt": prompt, **extra})


def errors_of(body: dict, node: str) -> list[tuple[str, str]]:
    return [(e["type"], e["details"]) for e in body["node_errors"][node]["errors"]]


def test_five_validate_inputs_styles(server):
    def one(class_type: str, **inputs: Any) -> dict:
        return {"1": {"class_type": class_type, "inputs": inputs}, "2": show("1")}

    assert post(server, one("TestValidateFalse", value=12))[0] == 200  # claimed: max 10 is not checked
    status, body = post(server, one("TestValidateFalse", value=3))
    assert status == 400 and errors_of(body, "1") == [("custom_validation_failed", "value")]
    status, body = post(server, one("TestValidateMessage", value=7))
    assert errors_of(body, "1") == [("custom_validation_failed", "value - 7s are not allowed")]
    status, body = post(server, one("TestValidateKwargs", a=-1, b=20))
    assert status == 400 and [t for t, _ in errors_of(body, "1")] == ["custom_validation_failed"] * 2
    assert all(d.endswith("negative: a") for _, d in errors_of(body, "1"))
    float_source = {"1": {"class_type": "TestMean", "inputs": {"image": ["0", 0]}}, "0": image(0.5)}
    linked = {**float_source, "3": {"class_type": "TestValidateTypes", "inputs": {"value": ["1", 0]}}, "4": show("3")}
    assert post(server, linked)[0] == 200  # a FLOAT link into an INT input: the node checks types itself
    wrong = {"0": image(0.5), "3": {"class_type": "TestValidateTypes", "inputs": {"value": ["0", 0]}}, "4": show("3")}
    status, body = post(server, wrong)
    assert status == 400 and errors_of(body, "3") == [("custom_validation_failed", "input_types - cannot take IMAGE")]
    status, body = post(server, one("TestValidateAsync", value=3))
    assert errors_of(body, "1") == [
        ("custom_validation_failed", "value - 3 is taken"),
        ("custom_validation_failed", "unique_id - 3 is taken"),
    ]
    status, body = post(server, one("TestValidateAsync", value=9))
    assert status == 400
    (kind, details) = errors_of(body, "1")[0]
    assert kind == "exception_during_inner_validation" and "node 1 refuses nine" in details
    assert post(server, one("TestValidateAsync", value=4))[0] == 200


def test_an_invalid_output_is_dropped_and_the_valid_one_runs(server):
    prompt = {
        "1": {"class_type": "TestValidateMessage", "inputs": {"value": 7}},
        "2": show("1"),
        "3": {"class_type": "TestIntAdd", "inputs": {"a": 2, "b": int(unique() * 1000)}},
        "4": show("3"),
    }
    (outcome,) = run(server, prompt)
    assert outcome.status == 200 and outcome.answer["node_errors"]["1"]["dependent_outputs"] == ["2"]
    assert outcome.status_str() == "success" and list(outcome.outputs()) == ["4"]


def test_partial_execution_runs_only_the_targets(server):
    value = int(unique() * 1000)
    prompt = {
        "1": {"class_type": "TestIntAdd", "inputs": {"a": value, "b": 1}},
        "2": show("1"),
        "3": {"class_type": "TestIntAdd", "inputs": {"a": value, "b": 2}},
        "4": show("3"),
    }
    (outcome,) = run(server, prompt, partial_execution_targets=["4"])
    assert outcome.executed_nodes() == ["3", "4"] and text(outcome, "4") == [str(value + 2)]
    assert outcome.history is not None and outcome.history["prompt"][4] == ["4"]


# --- expansion: loops, mixed returns, async expansion ---


def test_a_for_loop_built_by_expansion_runs_its_body_each_time(server):
    start = int(unique() * 1000)
    prompt = {
        "1": {"class_type": "TestForLoopOpen", "inputs": {"remaining": 4, "initial_value1": start}},
        "2": {"class_type": "TestIntAdd", "inputs": {"a": ["1", 2], "b": 3}},
        "3": {"class_type": "TestForLoopClose", "inputs": {"flow_control": ["1", 0], "initial_value1": ["2", 0]}},
        "4": show("3"),
    }
    first, second = run(server, prompt, prompt)
    assert first.status_str() == "success", first.history
    assert text(first, "4") == [str(start + 12)]
    bodies = [d for d in first.of("executing") if d.get("display_node") == "2"]
    assert len(bodies) == 4 and bodies[0]["node"] == "2" and bodies[1]["node"].startswith("3.0.0.")
    assert text(second, "4") == [str(start + 12)]
    assert (second.executed_nodes() == []) is caches(server)


def test_a_while_loop_runs_until_its_condition_fails(server):
    start = 1 + int(unique() * 1000) % 3
    prompt = {
        "1": {"class_type": "TestWhileLoopOpen", "inputs": {"condition": True, "initial_value1": start}},
        "2": {"class_type": "TestIntAdd", "inputs": {"a": ["1", 1], "b": ["1", 1]}},
        "3": {"class_type": "TestIntLess", "inputs": {"a": ["2", 0], "b": 20}},
        "4": {
            "class_type": "TestWhileLoopClose",
            "inputs": {"flow_control": ["1", 0], "condition": ["3", 0], "initial_value1": ["2", 0]},
        },
        "5": show("4"),
    }
    (outcome,) = run(server, prompt)
    expected = start
    while True:
        expected *= 2
        if expected >= 20:
            break
    assert text(outcome, "5") == [str(expected)]
    assert all(m["display_node"] in {"1", "2", "3", "4", "5"} for m in outcome.history["meta"].values())


def test_expansion_and_plain_results_mix_across_list_elements(server):
    start = 2 * int(unique() * 1000)
    prompt = {
        "1": {"class_type": "TestMakeIntList", "inputs": {"count": 4, "start": start}},
        "2": {"class_type": "TestMixedExpansion", "inputs": {"value": ["1", 0]}},
        "3": show("2"),
    }
    (outcome,) = run(server, prompt)
    assert text(outcome, "3") == [str(start * 10), str(start + 101), str((start + 2) * 10), str(start + 103)]
    ephemeral = [d["node"] for d in outcome.of("executing") if d["node"] and d["node"].startswith("2.")]
    assert ephemeral == ["2.1.0.1", "2.3.0.1"]  # prefixes name the list element that expanded


def test_an_async_node_expands_after_an_await_with_its_own_prefix(server):
    value = int(unique() * 1000)
    prompt = {"7": {"class_type": "TestAsyncExpand", "inputs": {"value": value}}, "8": show("7")}
    (outcome,) = run(server, prompt)
    assert text(outcome, "8") == [str(value + 1)]
    assert "7.0.0.1" in outcome.executed_nodes()


# --- lists and blockers ---


def test_blocked_list_elements_stop_only_their_own_consumers(server):
    start = 2 * int(unique() * 1000)
    prompt = {
        "1": {"class_type": "TestMakeIntList", "inputs": {"count": 4, "start": start}},
        "2": {"class_type": "TestBlockOdd", "inputs": {"value": ["1", 0], "message": ""}},
        "3": show("2"),
        "4": {"class_type": "TestJoin", "inputs": {"values": ["2", 0]}},
        "5": show("4"),
    }
    (outcome,) = run(server, prompt)
    assert outcome.status_str() == "success"
    assert text(outcome, "3") == [str(start), str(start + 2)]
    assert "5" not in outcome.outputs()  # the list consumer got a blocker in its list: it and its consumer are blocked
    assert outcome.of("execution_error") == []  # a blocker without a message is silent


def test_a_blocker_with_a_message_is_reported_once_and_the_run_succeeds(server):
    start = 2 * int(unique() * 1000)
    prompt = {
        "1": {"class_type": "TestMakeIntList", "inputs": {"count": 2, "start": start}},
        "2": {"class_type": "TestBlockOdd", "inputs": {"value": ["1", 0], "message": "odd one"}},
        "3": show("2"),
    }
    (outcome,) = run(server, prompt)
    notices = outcome.of("execution_error")
    assert [(n["node_id"], n["exception_type"]) for n in notices] == [("3", "ExecutionBlocked")]
    assert "odd one" in notices[0]["exception_message"]
    assert outcome.status_str() == "success" and text(outcome, "3") == [str(start)]


# --- async nodes ---


def test_async_sleeps_overlap(server):
    seconds = 0.4
    prompt = {
        str(i): {"class_type": "TestAsyncSleep", "inputs": {"value": unique(), "seconds": seconds}} for i in (1, 2, 3)
    }
    (outcome,) = run(server, prompt)
    spans = [outcome.outputs()[str(i)]["span"] for i in (1, 2, 3)]
    assert max(s[0] for s in spans) < min(s[1] for s in spans)  # each started before any finished


def test_an_async_error_fails_the_run_on_its_node(server):
    prompt = {
        "1": image(unique()),
        "2": {"class_type": "TestMean", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "TestAsyncError", "inputs": {"value": ["2", 0]}},
        "4": show("3"),
    }
    (outcome,) = run(server, prompt)
    error = outcome.error()
    assert error is not None and error["node_id"] == "3" and error["exception_type"] == "RuntimeError"
    assert "async failure" in error["exception_message"]
    assert outcome.status_str() == "error" and "2" in outcome.outputs()  # finished output nodes stay in history


def test_node_errors_name_the_failing_node_and_keep_what_finished(server):
    prompt = {
        "1": image(unique()),
        "2": {"class_type": "TestMean", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "TestRaise", "inputs": {"value": ["2", 0], "message": "no luck"}},
        "4": show("3"),
    }
    first, second = run(server, prompt, prompt)
    for outcome in (first, second):
        error = outcome.error()
        assert error is not None and (error["node_id"], error["exception_type"]) == ("3", "ValueError")
        assert error["exception_message"].startswith("no luck")
        assert [m[0] for m in outcome.history["status"]["messages"]][-1] == "execution_error"
    assert ("2" in second.executed_nodes()) is not caches(server)  # what finished stays cached; the failure is not


# --- progress and output nodes ---


@pytest.mark.parametrize("node", ["progress_bar", "comfy_api", "async"])
def test_progress_from_sync_and_async_nodes_reaches_the_client(server, node):
    if node == "async":
        progress_node = {"class_type": "TestAsyncProgress", "inputs": {"value": unique(), "steps": 3}}
    else:
        progress_node = {"class_type": "TestProgress", "inputs": {"value": unique(), "steps": 3, "api": node}}
    (outcome,) = run(server, {"1": progress_node, "2": show("1")})
    progress = [p for p in outcome.of("progress") if p["node"] == "1"]
    assert progress and (progress[-1]["value"], progress[-1]["max"]) == (3, 3)
    states = [s["nodes"]["1"] for s in outcome.of("progress_state") if "1" in s["nodes"]]
    assert states[-1]["state"] == "finished"
    if node == "async":
        previews = [f for f in outcome.binary if struct.unpack(">I", f[:4])[0] == 1]
        assert previews and previews[0][8:11] == b"\xff\xd8\xff"  # a JPEG preview frame


def test_an_output_node_with_a_socket_output_feeds_another_node(server):
    value = unique()
    prompt = {"1": image(value), "2": {"class_type": "TestMean", "inputs": {"image": ["1", 0]}}, "3": show("2")}
    (outcome,) = run(server, prompt)
    assert outcome.outputs()["2"] == {"mean": [value]}
    assert text(outcome, "3") == [str(value)]
    executed = {d["node"]: d["output"] for d in outcome.of("executed")}
    assert executed["2"] == {"mean": [value]}


# --- history ---


def test_history_pages_like_comfyui(server):
    run(
        server,
        *[
            {"1": {"class_type": "TestIntAdd", "inputs": {"a": int(unique() * 1000), "b": 0}}, "2": show("1")}
            for _ in range(3)
        ],
    )
    status, everything = server.request("GET", "/history")
    ids = list(everything)
    assert status == 200 and len(ids) >= 3
    assert list(server.request("GET", "/history?max_items=2")[1]) == ids[-2:]
    assert list(server.request("GET", "/history?max_items=1&offset=0")[1]) == ids[:1]
    assert list(server.request("GET", "/history?max_items=2&offset=1")[1]) == ids[1:3]
    assert server.request("GET", f"/history?offset={len(ids)}")[1] == {}


# --- V3 nodes ---


def test_v3_nodes_are_reported_in_the_v1_shape(server):
    status, info = server.request("GET", "/object_info")
    assert status == 200
    scale = info["V3Scale"]
    assert scale["display_name"] == "Scale (V3)" and info["V3Choose"]["display_name"] is None
    assert scale["python_module"] == "custom_nodes.impasto_test_v3" and scale["category"] == "impasto_test/v3"
    assert scale["input"]["required"]["image"] == ["IMAGE", {}]
    assert scale["input"]["required"]["factor"] == [
        "FLOAT",
        {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.1, "tooltip": "how much"},
    ]
    assert scale["input"]["required"]["mode"] == [
        "COMBO",
        {"multiselect": False, "options": ["multiply", "divide"], "default": "multiply"},
    ]
    assert scale["input"]["optional"] == {"mask": ["MASK", {}]}
    assert scale["input"]["hidden"] == {"unique_id": "UNIQUE_ID"}
    assert scale["input_order"] == {
        "required": ["image", "factor", "mode"],
        "optional": ["mask"],
        "hidden": ["unique_id"],
    }
    assert (scale["output"], scale["output_name"], scale["output_tooltips"]) == (["IMAGE"], ["scaled"], [None])
    assert (scale["deprecated"], scale["experimental"], scale["api_node"], scale["output_node"]) == (
        False,
        False,
        False,
        False,
    )
    assert info["V3Output"]["input"]["hidden"] == {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}


def test_v3_nodes_run_validate_fingerprint_expand_and_block(server):
    value = unique()
    scale = {
        "1": image(0.5 + value / 10),
        "2": {"class_type": "V3Scale", "inputs": {"image": ["1", 0], "factor": 2.0, "mode": "multiply"}},
        "3": {"class_type": "V3Output", "inputs": {"value": ["2", 0]}},
    }
    first, again = run(server, scale, scale)
    assert first.status_str() == "success", first.history
    assert first.outputs()["2"] == {"text": ["2:2.0"]}
    assert first.outputs()["3"] == {"text": [str(round(1.0 + value / 5, 4))], "has_prompt": [True]}
    assert (again.executed_nodes() == []) is caches(server)
    status, body = post(server, {**scale, "2": {**scale["2"], "inputs": {**scale["2"]["inputs"], "factor": 3.0}}})
    assert status == 400 and errors_of(body, "2") == [("custom_validation_failed", "factor - 3 is not a factor")]
    status, body = post(server, {**scale, "2": {**scale["2"], "inputs": {**scale["2"]["inputs"], "mode": "add"}}})
    assert status == 400 and errors_of(body, "2")[0][0] == "value_not_in_list"
    number = int(unique() * 1000)
    lazy: dict[str, Any] = {
        "1": {"class_type": "TestIntAdd", "inputs": {"a": number, "b": 1}},
        "2": {"class_type": "TestIntAdd", "inputs": {"a": number, "b": 2}},
        "3": {"class_type": "V3Choose", "inputs": {"a": ["1", 0], "b": ["2", 0], "pick": "b"}},
        "4": {"class_type": "V3Triple", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "V3Output", "inputs": {"value": ["4", 0]}},
    }
    chose, blocked = run(server, lazy, {**lazy, "3": {**lazy["3"], "inputs": {**lazy["3"]["inputs"], "pick": "none"}}})
    assert chose.outputs()["5"]["text"] == [str(3 * (number + 2))]
    assert "1" not in chose.executed_nodes() and "4.0.0.2" in chose.executed_nodes()
    notices = [e for e in blocked.of("execution_error") if e["exception_type"] == "ExecutionBlocked"]
    assert [n["node_id"] for n in notices] == ["4"] and "nothing picked" in notices[0]["exception_message"]
    assert blocked.status_str() == "success" and "5" not in blocked.outputs()
