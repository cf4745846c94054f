"""List mapping and return forms (execution.md §7.4-7.6).

Every input value inside the engine is a list. A node without INPUT_IS_LIST is called once per
element of its longest input (shorter inputs repeat their last element); results are merged per
output slot, concatenated where OUTPUT_IS_LIST says so.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from impasto.graph.blocker import ExecutionBlocker


def calls(inputs: dict[str, list[Any]], input_is_list: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """The (list index, keyword arguments) of each call a node gets for these inputs."""
    if input_is_list:
        yield 0, inputs
        return
    longest = max((len(v) for v in inputs.values()), default=0)
    if longest == 0:
        yield 0, {}  # as ComfyUI: a node whose inputs are all empty lists is called without arguments
        return
    for i in range(longest):
        yield i, {name: values[i] if i < len(values) else values[-1] for name, values in inputs.items()}


def blocker_in(kwargs: dict[str, Any], input_is_list: bool) -> ExecutionBlocker | None:
    """The first ExecutionBlocker among the arguments of one call (any list element for INPUT_IS_LIST)."""
    for value in kwargs.values():
        if input_is_list and isinstance(value, list):
            for element in value:
                if isinstance(element, ExecutionBlocker):
                    return element
        elif isinstance(value, ExecutionBlocker):
            return value
    return None


async def resolve(value: Any) -> Any:
    """Await a result when a (possibly async) class method returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


async def map_classmethod(function: Callable[..., Any], inputs: dict[str, list[Any]], input_is_list: bool) -> list[Any]:
    """Call a class-level method (VALIDATE_INPUTS, IS_CHANGED) through the list machinery, awaiting each result."""
    return [await resolve(function(**kwargs)) for _index, kwargs in calls(inputs, input_is_list)]


def run_coroutine_blocking(awaitable: Awaitable[Any]) -> Any:
    """Run an awaitable to completion from synchronous code (in a fresh loop, on a helper thread if one is running)."""

    async def main() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="impasto-async-classmethod")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


@dataclass(slots=True)
class Returns:
    """A node's results, split into values, UI output and expansions."""

    outputs: list[list[Any]]  # per output slot (when nothing expanded)
    ui: dict[str, list[Any]]  # merged across calls
    expansions: list[tuple[dict[str, Any] | None, Sequence[Any] | None]] | None  # per call, when any call expanded


def split_returns(results: list[Any], return_count: int, output_is_list: Sequence[bool]) -> Returns:
    """Read the return forms of each call: a tuple, a dict with ui/result/expand, or an ExecutionBlocker."""
    values: list[Sequence[Any]] = []
    uis: list[dict[str, Any]] = []
    per_call: list[tuple[dict[str, Any] | None, Sequence[Any] | None]] = []
    expanded = False
    for result in results:
        if isinstance(result, dict):
            ui = result.get("ui")
            if ui is not None:
                if not isinstance(ui, dict):
                    raise TypeError(f"a node's 'ui' must be a dict, not {type(ui).__name__}")
                uis.append(ui)
            if "expand" in result:
                graph = result["expand"]
                if not isinstance(graph, dict):
                    raise TypeError(f"a node's 'expand' must be a dict of nodes, not {type(graph).__name__}")
                expanded = True
                per_call.append((graph, _as_tuple(result.get("result"), return_count)))
            elif "result" in result:
                tup = _as_tuple(result["result"], return_count)
                values.append(tup)
                per_call.append((None, tup))
        else:
            tup = _as_tuple(result, return_count)
            values.append(tup)
            per_call.append((None, tup))
    outputs = merge_outputs(values, output_is_list) if values and not expanded else []
    return Returns(outputs=outputs, ui=merge_ui(uis), expansions=per_call if expanded else None)


def _as_tuple(value: Any, return_count: int) -> Sequence[Any]:
    if isinstance(value, ExecutionBlocker):
        return (value,) * return_count
    if value is None:
        if return_count == 0:
            return ()
        raise TypeError(f"the node returned None, but it declares {return_count} output(s)")
    if isinstance(value, tuple | list):
        return value
    raise TypeError(
        f"the node returned {type(value).__name__}: a node returns a tuple with one value per RETURN_TYPES entry, "
        "or a dict with 'ui', 'result' or 'expand'"
    )


def merge_outputs(values: list[Sequence[Any]], output_is_list: Sequence[bool]) -> list[list[Any]]:
    """One list per output slot: one element per call, or the calls' lists concatenated (OUTPUT_IS_LIST)."""
    slots = len(values[0])
    merged: list[list[Any]] = []
    for i in range(slots):
        is_list = i < len(output_is_list) and output_is_list[i]
        slot: list[Any] = []
        for value in values:
            element = value[i] if i < len(value) else None
            if is_list and not isinstance(element, ExecutionBlocker):
                slot.extend(element if isinstance(element, list | tuple) else [element])
            else:
                slot.append(element)
        merged.append(slot)
    return merged


def merge_ui(uis: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """UI dicts of several calls merged key by key; keys absent from the first call's dict are dropped."""
    if not uis:
        return {}
    merged: dict[str, list[Any]] = {}
    for key in uis[0]:
        combined: list[Any] = []
        for ui in uis:
            value = ui.get(key)
            if isinstance(value, list | tuple):
                combined.extend(value)
            elif value is not None:
                combined.append(value)
        merged[key] = combined
    return merged
