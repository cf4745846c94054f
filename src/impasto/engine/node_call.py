"""Executing one staged node (execution.md §7): cache hits, inputs, lazy re-staging, list mapping,
blockers, async tasks and expansion.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from impasto.engine.cache import CacheEntry
from impasto.engine.context import call_in_node, enter_node
from impasto.engine.inputs import gather
from impasto.engine.lists import Returns, blocker_in, calls, resolve, split_returns
from impasto.graph.blocker import ExecutionBlocker
from impasto.graph.dynprompt import DuplicateNodeError
from impasto.graph.expansion import GraphBuilder
from impasto.protocol.events import EXECUTION_BLOCKED, EventType
from impasto.protocol.prompt import is_link, link_index

if TYPE_CHECKING:
    from impasto.engine.runner import _Run


class Outcome(StrEnum):
    """What became of a staged node."""

    SUCCESS = "success"  # its outputs exist (computed, resolved or served from cache)
    PENDING = "pending"  # staged again later: lazy inputs, expansion or async tasks outstanding


class NodeCall:
    """One staging of one node. `input_data` holds its arguments once assembled (for error reports)."""

    def __init__(self, run: _Run, node_id: str) -> None:
        self.run = run
        self.node_id = node_id
        node = run.dynprompt.get_node(node_id)
        self.class_type = node["class_type"]
        self.cls = run.engine.registry.get_class(self.class_type)
        self.display_id = run.dynprompt.get_display_node_id(node_id)
        self.input_data: dict[str, list[Any]] | None = None

    async def execute(self) -> Outcome:
        run, node_id = self.run, self.node_id
        if node_id in run.pending_async:
            return await self._collect_async()
        if node_id in run.pending_expansion:
            return self._resolve_expansion()
        cached = run._lookup(node_id)
        if cached is not None:
            return self._serve_cached(cached)
        run.progress.start(node_id)
        declared = run._declared(node_id)
        inputs = run.dynprompt.get_node(node_id).get("inputs", {})
        data, missing = gather(node_id, inputs, declared, run.output_of, run.values)
        self.input_data = data
        run.emit(EventType.EXECUTING, {"node": node_id, "display_node": self.display_id, "prompt_id": run.prompt_id})
        obj = run.instance(node_id)
        check_lazy = getattr(obj, "check_lazy_status", None)
        if check_lazy is not None and await self._needs_lazy_inputs(check_lazy, data, missing):
            return Outcome.PENDING
        results = await self._map(getattr(obj, self.cls.FUNCTION), data, on_blocker=self._blocked)
        tasks = [r for r in results if isinstance(r, asyncio.Task)]
        if any(not t.done() for t in tasks):
            self._wait_for(tasks, results)
            return Outcome.PENDING
        return await self._finish([r.result() if isinstance(r, asyncio.Task) else r for r in results])

    def _serve_cached(self, entry: CacheEntry) -> Outcome:
        """A cached node (in practice an output node): re-send its UI output, run nothing."""
        run = self.run
        run.token.raise_if_cancelled()
        run.emit(
            EventType.EXECUTED,
            {"node": self.node_id, "display_node": self.display_id, "output": entry.ui, "prompt_id": run.prompt_id},
        )
        run.progress.finish(self.node_id)
        run.results[self.node_id] = entry
        return Outcome.SUCCESS

    async def _needs_lazy_inputs(
        self, check_lazy: Callable[..., Any], data: dict[str, list[Any]], missing: set[str]
    ) -> bool:
        """Ask check_lazy_status; linked inputs it names that have no value yet become dependencies."""
        needed: list[str] = []
        for result in await self._map(check_lazy, data):
            result = await resolve(result)
            if isinstance(result, list | tuple):
                needed.extend(x for x in result if isinstance(x, str) and x not in needed)
        needed = [name for name in needed if name not in data or name in missing]
        execution = self.run.list
        assert execution is not None
        for name in needed:
            execution.make_input_strong_link(self.node_id, name)
        return bool(needed)

    async def _map(
        self,
        function: Callable[..., Any],
        data: dict[str, list[Any]],
        on_blocker: Callable[[ExecutionBlocker], ExecutionBlocker] | None = None,
    ) -> list[Any]:
        """Call through the list machinery; each call is an interrupt point and runs in its node context."""
        run, node_id = self.run, self.node_id
        input_is_list = bool(getattr(self.cls, "INPUT_IS_LIST", False))
        is_async = inspect.iscoroutinefunction(function)
        results: list[Any] = []
        for index, kwargs in calls(data, input_is_list):
            run.token.raise_if_cancelled()
            blocker = blocker_in(kwargs, input_is_list)
            if blocker is not None:
                results.append(on_blocker(blocker) if on_blocker is not None else blocker)
                continue
            if is_async:
                task = asyncio.create_task(self._call_async(function, kwargs, index))
                run.track(task)
                await asyncio.sleep(0)  # one chance to finish at once
                results.append(task.result() if task.done() else task)
                continue
            GraphBuilder.set_default_prefix(node_id, index, 0)
            results.append(call_in_node(run, node_id, index, function, kwargs))
        return results

    async def _call_async(self, function: Callable[..., Any], kwargs: dict[str, Any], index: int) -> Any:
        # This task runs in a copy of the context: what it sets here stays with its own node call.
        enter_node(self.run, self.node_id, index)
        GraphBuilder.set_default_prefix(self.node_id, index, 0)
        return await function(**kwargs)

    def _blocked(self, blocker: ExecutionBlocker) -> ExecutionBlocker:
        """A consumer of a blocker: a message is reported once here, and blocks silently downstream."""
        if blocker.message is None:
            return blocker
        run = self.run
        run.emit(
            EventType.EXECUTION_ERROR,
            {
                "prompt_id": run.prompt_id,
                "node_id": self.node_id,
                "node_type": self.class_type,
                "executed": list(run.executed),
                "exception_message": f"Execution Blocked: {blocker.message}",
                "exception_type": EXECUTION_BLOCKED,
                "traceback": [],
                "current_inputs": [],
                "current_outputs": [],
            },
        )
        return ExecutionBlocker(None)

    def _wait_for(self, tasks: list[asyncio.Task[Any]], results: list[Any]) -> None:
        """Leave the node pending until its async calls finish; other ready nodes run meanwhile."""
        run = self.run
        assert run.list is not None
        run.pending_async[self.node_id] = results
        unblock = run.list.add_external_block(self.node_id)

        async def completion() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)
            unblock()

        run.track(asyncio.create_task(completion()))

    async def _collect_async(self) -> Outcome:
        results = self.run.pending_async.pop(self.node_id)
        return await self._finish([r.result() if isinstance(r, asyncio.Task) else r for r in results])

    async def _finish(self, results: list[Any]) -> Outcome:
        run, node_id = self.run, self.node_id
        returns: Returns = split_returns(
            results, len(self.cls.RETURN_TYPES), tuple(getattr(self.cls, "OUTPUT_IS_LIST", ()))
        )
        if returns.ui:
            run.ui[node_id] = returns.ui
            run.emit(
                EventType.EXECUTED,
                {"node": node_id, "display_node": self.display_id, "output": returns.ui, "prompt_id": run.prompt_id},
            )
        if returns.expansions is not None:
            await self._expand(returns.expansions)
            return Outcome.PENDING
        return self._complete(returns.outputs)

    def _complete(self, outputs: list[list[Any]]) -> Outcome:
        run, node_id = self.run, self.node_id
        run.store(node_id, CacheEntry(ui=run.ui.get(node_id), outputs=outputs))
        run.progress.finish(node_id)
        run.executed[node_id] = None
        return Outcome.SUCCESS

    async def _expand(self, expansions: list[tuple[dict[str, Any] | None, Sequence[Any] | None]]) -> None:
        """Add the returned graphs as ephemeral nodes; the node resolves once the linked results exist."""
        run, node_id = self.run, self.node_id
        dyn = run.dynprompt
        new_ids: list[str] = []
        new_outputs: list[str] = []
        links: list[tuple[str, int]] = []
        per_call: list[tuple[bool, Sequence[Any] | None]] = []
        for graph, result in expansions:
            if graph is None:
                per_call.append((False, result))
                continue
            for new_id in graph:
                if dyn.has_node(new_id):
                    raise DuplicateNodeError(
                        f"Attempt to add duplicate node {new_id}. Ensure node ids are unique and deterministic "
                        "or use graph_utils.GraphBuilder."
                    )
            for new_id, node in graph.items():
                checked = _expanded_node(node_id, new_id, node, run)
                dyn.add_ephemeral_node(new_id, checked, node_id, str(checked.get("override_display_id", node_id)))
                new_ids.append(new_id)
                if getattr(run.engine.registry.get_class(checked["class_type"]), "OUTPUT_NODE", False) is True:
                    new_outputs.append(new_id)
            for value in result or ():
                index = link_index(value) if is_link(value) else None
                if index is not None:
                    links.append((value[0], index))
            per_call.append((True, result))
        for new_id in new_ids:
            run.is_changed[new_id] = await run._compute_is_changed(new_id)
        run.engine.cache.begin_scope(run.key_of(node_id), [run.key_of(n) for n in new_ids])
        execution = run.list
        assert execution is not None
        for output in new_outputs:
            execution.add_node(output)
        for source, socket in links:
            execution.add_strong_link(source, socket, node_id)
        run.pending_expansion[node_id] = per_call

    def _resolve_expansion(self) -> Outcome:
        """The expansion's results exist: the node's outputs are what its `result` links point to."""
        run = self.run
        per_call = run.pending_expansion.pop(self.node_id)
        slots = len(self.cls.RETURN_TYPES)
        is_list = tuple(getattr(self.cls, "OUTPUT_IS_LIST", ()))
        outputs: list[list[Any]] = [[] for _ in range(slots)]
        for expanded, result in per_call:
            for i in range(slots):
                value = result[i] if result is not None and i < len(result) else None
                if expanded and is_link(value):
                    source = run.output_of(value[0])
                    index = link_index(value)
                    outputs[i].extend(source[index] if source is not None and index is not None else [None])
                elif i < len(is_list) and is_list[i] and isinstance(value, list | tuple):
                    outputs[i].extend(value)
                else:
                    outputs[i].append(value)
        return self._complete(outputs)


def _expanded_node(parent: str, node_id: str, node: Any, run: _Run) -> dict[str, Any]:
    """A node an expansion returned, checked enough to run (the prompt's validation never saw it)."""
    if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
        raise ValueError(f"node {parent} expanded into {node_id!r}, which is not a node with a class_type")
    if node["class_type"] not in run.engine.registry:
        raise ValueError(f"node {parent} expanded into {node_id!r} of unknown class {node['class_type']!r}")
    inputs = node.get("inputs", {})
    if not isinstance(inputs, dict):
        raise ValueError(f"node {parent} expanded into {node_id!r} whose inputs are not an object")
    return {**node, "inputs": inputs}
