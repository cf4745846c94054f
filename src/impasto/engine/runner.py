"""Running one validated prompt (execution.md §5-8): the engine a worker owns, and one run of it.

The engine outlives runs: it holds the node registry, the output cache and the node instances. A
run computes every node's cache key, reports what is cached, then dissolves the graph from the
output nodes, executing one node at a time (async node functions overlap), and reports through an
event sink. It never raises for anything node code does: every outcome is a `RunResult`.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from impasto.engine.cache import CacheEntry, CacheMode, CacheSettings, OutputCache, make_cache
from impasto.engine.cancel import CancelToken, Interrupted
from impasto.engine.context import running
from impasto.engine.events import Event, EventSink, PreviewEvent, discard, now_ms
from impasto.engine.execution_list import ExecutionList
from impasto.engine.inputs import Declared, RunValues, constants_only, format_value
from impasto.engine.lists import map_classmethod
from impasto.engine.node_call import NodeCall, Outcome
from impasto.engine.progress import ProgressRegistry
from impasto.engine.registry import NodeRegistry
from impasto.graph.blocker import ExecutionBlocker
from impasto.graph.dynprompt import DependencyCycleError, DynamicPrompt
from impasto.graph.signature import CacheKey, Signer
from impasto.protocol.errors import exception_type_name
from impasto.protocol.events import (
    DEPENDENCY_CYCLE_ERROR,
    EventType,
    ExecutionErrorData,
    ExecutionInterruptedData,
)
from impasto.protocol.prompt import Prompt, is_link

log = logging.getLogger(__name__)


class RunStatus(StrEnum):
    """How a run ended."""

    SUCCESS = "success"  # every output ran (blocked outputs included)
    ERROR = "error"  # a node failed, or a cycle appeared at run time
    INTERRUPTED = "interrupted"  # the job was cancelled


@dataclass(frozen=True, slots=True)
class RunRequest:
    prompt_id: str
    prompt: Prompt  # validated
    outputs: Sequence[str]  # outputs_to_execute
    extra_data: Mapping[str, Any] = field(default_factory=dict)
    sensitive: Mapping[str, str] = field(default_factory=dict)  # auth values, never stored


@dataclass(frozen=True, slots=True)
class RunResult:
    status: RunStatus
    outputs: dict[str, dict[str, Any]]  # node id -> ui dict (history `outputs`)
    meta: dict[str, dict[str, Any]]  # node id -> node_id/display_node/parent_node/real_node_id
    messages: list[tuple[str, dict[str, Any]]]  # history `status.messages`
    executed: list[str]
    error: ExecutionErrorData | None = None
    interrupted: ExecutionInterruptedData | None = None


class Engine:
    """Executes prompts with one output cache and one set of node instances (one per worker)."""

    def __init__(self, registry: NodeRegistry, cache: CacheSettings | None = None) -> None:
        self.registry = registry
        self.cache_settings = cache or CacheSettings()
        self.cache: OutputCache = make_cache(self.cache_settings)
        self.instances: dict[tuple[str, str], Any] = {}

    async def run(self, request: RunRequest, sink: EventSink = discard, token: CancelToken | None = None) -> RunResult:
        run = _Run(self, request, sink, token or CancelToken())
        with running(run):
            return await run.execute()

    def run_sync(self, request: RunRequest, sink: EventSink = discard, token: CancelToken | None = None) -> RunResult:
        return asyncio.run(self.run(request, sink, token))

    def free_memory(self) -> None:
        """Drop every cached output and node instance (`POST /free` with `free_memory`)."""
        self.cache.clear()
        self.instances.clear()


class _Run:
    """One run: per-run state, scheduling loop, and event emission."""

    def __init__(self, engine: Engine, request: RunRequest, sink: EventSink, token: CancelToken) -> None:
        self.engine = engine
        self.request = request
        self.sink = sink
        self.token = token
        self.prompt_id = request.prompt_id
        client_id = request.extra_data.get("client_id")
        self.client_id = client_id if isinstance(client_id, str) else None
        self.dynprompt = DynamicPrompt(request.prompt)
        self.values = RunValues(self.dynprompt, request.extra_data, request.sensitive)
        self.progress = ProgressRegistry(self.prompt_id, self.dynprompt, sink)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.executed: dict[str, None] = {}  # nodes that finished in this run, in order (a set with order)
        self.results: dict[str, CacheEntry] = {}  # outputs available to this run, by node id
        self.ui: dict[str, dict[str, Any]] = {}  # ui produced in this run
        self.by_key: dict[CacheKey, CacheEntry] = {}  # this run's outputs by key (dedupes identical nodes)
        self.declared: dict[str, Declared] = {}
        self.traits: dict[str, tuple[bool, bool]] = {}
        self.is_changed: dict[str, Any] = {}
        self.keys: dict[str, CacheKey] = {}
        self.signer = Signer(self.dynprompt, self._identity, lambda n: self.is_changed.get(n, False))
        self.pending_async: dict[str, list[Any]] = {}
        self.pending_expansion: dict[str, list[tuple[bool, Sequence[Any] | None]]] = {}
        self.consumers: dict[str, set[str]] = {}  # --cache-none: pending nodes still to read each output
        self.tasks: set[asyncio.Task[Any]] = set()
        self.list: ExecutionList | None = None
        if engine.cache_settings.mode is CacheMode.NONE:
            engine.instances.clear()

    # RunScope, for node code (progress bars, interrupt checks)
    def report_progress(
        self, node_id: str, value: float, total: float, preview: tuple[str, bytes, int | None] | None = None
    ) -> None:
        self.token.raise_if_cancelled()
        self.progress.update(node_id, value, total)
        if preview is not None:
            fmt, data, max_size = preview
            self.sink(PreviewEvent(self.prompt_id, node_id, fmt, data, max_size))

    # the run
    async def execute(self) -> RunResult:
        self._message(EventType.EXECUTION_START, {"prompt_id": self.prompt_id})
        prompt_ids = list(self.request.prompt)
        for node_id in prompt_ids:
            self.is_changed[node_id] = await self._compute_is_changed(node_id)
        for node_id in prompt_ids:
            self.keys[node_id] = self.signer.key(node_id)
        self.engine.cache.begin_run(set(self.keys.values()))
        self._drop_stale_instances()
        current_outputs = prompt_ids + sorted(self.engine.cache.node_ids(scoped_only=True) - set(prompt_ids))
        cached = [n for n in prompt_ids if self.engine.cache.get(self.keys[n]) is not None]
        self._message(EventType.EXECUTION_CACHED, {"nodes": cached, "prompt_id": self.prompt_id})
        loop = asyncio.get_running_loop()
        self.list = ExecutionList(
            self.dynprompt,
            is_cached=self._pin_cached,
            is_lazy=lambda n, name: bool(self._declared(n).option(name, "lazy")),
            is_output=lambda n: self._traits(n)[0],
            is_async=lambda n: self._traits(n)[1],
            token=self.token,
            on_enter=self._count_consumers,
        )
        remove_wake = self.token.on_cancel(lambda: self._call_soon(loop))
        try:
            return await self._loop(current_outputs)
        finally:
            remove_wake()
            await self._cancel_tasks()

    async def _loop(self, current_outputs: list[str]) -> RunResult:
        execution = self.list
        assert execution is not None
        for output in self.request.outputs:
            execution.add_node(output)
        node_id = next(iter(self.request.outputs), None)  # the node that ran last
        while not execution.is_empty():
            try:
                node_id = await execution.stage()
            except DependencyCycleError as cycle:
                return self._fail_cycle(list(cycle.args[0]), current_outputs)
            except Interrupted:
                waiting = execution.externally_blocked()
                return self._interrupted(waiting[0] if waiting else self.request.outputs[0])
            call = NodeCall(self, node_id)
            try:
                outcome = await call.execute()
            except Interrupted:
                return self._interrupted(node_id)
            except asyncio.CancelledError:
                if not self.token.requested:
                    raise
                return self._interrupted(node_id)
            except Exception as exc:
                return self._fail(node_id, exc, call.input_data, current_outputs)
            if outcome is Outcome.PENDING:
                execution.unstage()
            else:
                execution.complete()
                self._release_inputs(node_id)
            self.engine.cache.poll()
        if self.token.seal() and node_id is not None:  # a cancel accepted as the last node ran: cancelled
            return self._interrupted(node_id)
        self._message(EventType.EXECUTION_SUCCESS, {"prompt_id": self.prompt_id})
        return self._result(RunStatus.SUCCESS)

    # events and results
    def emit(self, type_: EventType, data: dict[str, Any]) -> None:
        self.sink(Event(type_, data))

    def _message(self, type_: EventType, data: dict[str, Any]) -> None:
        """A run status message: sent, and recorded for history (with its timestamp)."""
        data = {**data, "timestamp": now_ms()}
        self.messages.append((type_.value, data))
        self.emit(type_, data)

    def _interrupted(self, node_id: str) -> RunResult:
        real = self.dynprompt.get_real_node_id(node_id)
        data: ExecutionInterruptedData = {
            "prompt_id": self.prompt_id,
            "node_id": real,
            "node_type": self.dynprompt.get_node(real)["class_type"],
            "executed": list(self.executed),
            "timestamp": now_ms(),
        }
        log.info("prompt %s interrupted at node %s", self.prompt_id, real)
        self.messages.append((EventType.EXECUTION_INTERRUPTED.value, dict(data)))
        self.emit(EventType.EXECUTION_INTERRUPTED, dict(data))
        return self._result(RunStatus.INTERRUPTED, interrupted=data)

    def _fail(
        self, node_id: str, exc: BaseException, input_data: dict[str, list[Any]] | None, current_outputs: list[str]
    ) -> RunResult:
        real = self.dynprompt.get_real_node_id(node_id)
        log.error(
            "prompt %s: node %s (%s) failed: %s",
            self.prompt_id,
            node_id,
            self.dynprompt.get_node(node_id)["class_type"],
            exc,
            exc_info=exc,
        )
        return self._error_result(
            real,
            str(exc) + "\n",
            exception_type_name(exc),
            traceback.format_tb(exc.__traceback__),
            {name: [format_value(v) for v in values] for name, values in (input_data or {}).items()},
            current_outputs,
        )

    def _fail_cycle(self, cycle: list[str], current_outputs: list[str]) -> RunResult:
        blamed = cycle[0] if cycle else self.request.outputs[0]
        for node_id in cycle:
            display = self.dynprompt.get_display_node_id(node_id)
            if display != node_id:
                blamed = display
                break
        return self._error_result(blamed, "Dependency cycle detected", DEPENDENCY_CYCLE_ERROR, [], [], current_outputs)

    def _error_result(
        self,
        node_id: str,
        message: str,
        exception_type: str,
        tb: list[str],
        current_inputs: dict[str, list[Any]] | list[Any],
        current_outputs: list[str],
    ) -> RunResult:
        if self.token.seal():  # cancelled before the failure decided the end: the cancel is what happened
            return self._interrupted(node_id)
        data: ExecutionErrorData = {
            "prompt_id": self.prompt_id,
            "node_id": node_id,
            "node_type": self.dynprompt.get_node(node_id)["class_type"],
            "executed": list(self.executed),
            "exception_message": message,
            "exception_type": exception_type,
            "traceback": tb,
            "current_inputs": current_inputs,
            "current_outputs": current_outputs,
            "timestamp": now_ms(),
        }
        self.messages.append((EventType.EXECUTION_ERROR.value, dict(data)))
        self.emit(EventType.EXECUTION_ERROR, dict(data))
        return self._result(RunStatus.ERROR, error=data)

    def _result(
        self,
        status: RunStatus,
        error: ExecutionErrorData | None = None,
        interrupted: ExecutionInterruptedData | None = None,
    ) -> RunResult:
        outputs: dict[str, dict[str, Any]] = {}
        meta: dict[str, dict[str, Any]] = {}
        for node_id in [*self.request.prompt, *self.dynprompt.ephemeral_node_ids()]:
            ui = self.ui.get(node_id)
            if ui is None:
                entry = self.results.get(node_id) or self._lookup(node_id)
                ui = entry.ui if entry is not None else None
            if ui is None:
                continue
            outputs[node_id] = ui
            meta[node_id] = {
                "node_id": node_id,
                "display_node": self.dynprompt.get_display_node_id(node_id),
                "parent_node": self.dynprompt.get_parent_node_id(node_id),
                "real_node_id": self.dynprompt.get_real_node_id(node_id),
            }
        return RunResult(status, outputs, meta, self.messages, list(self.executed), error, interrupted)

    # classes, keys and cache
    def _class(self, node_id: str) -> Any:
        return self.engine.registry.get_class(self.dynprompt.get_node(node_id)["class_type"])

    def _traits(self, node_id: str) -> tuple[bool, bool]:
        """(output node, async function) of a node's class."""
        class_type = self.dynprompt.get_node(node_id)["class_type"]
        traits = self.traits.get(class_type)
        if traits is None:
            cls = self.engine.registry.get_class(class_type)
            traits = self.traits[class_type] = (
                getattr(cls, "OUTPUT_NODE", False) is True,
                inspect.iscoroutinefunction(getattr(cls, cls.FUNCTION, None)),
            )
        return traits

    def _declared(self, node_id: str) -> Declared:
        return self._declared_class(self.dynprompt.get_node(node_id)["class_type"])

    def _declared_class(self, class_type: str) -> Declared:
        declared = self.declared.get(class_type)
        if declared is None:
            declared = self.declared[class_type] = Declared.of(self.engine.registry.get_class(class_type))
        return declared

    def _identity(self, class_type: str) -> bool:
        cls = self.engine.registry.get_class(class_type)
        if getattr(cls, "NOT_IDEMPOTENT", False):
            return True
        return "UNIQUE_ID" in self._declared_class(class_type).hidden.values()

    async def _compute_is_changed(self, node_id: str) -> Any:
        """IS_CHANGED on constants only; an exception means "changed" (NaN never equals)."""
        cls = self._class(node_id)
        is_changed = getattr(cls, "IS_CHANGED", None)
        if is_changed is None:
            return False
        node = self.dynprompt.get_node(node_id)
        if "is_changed" in node:
            return node["is_changed"]
        try:
            inputs = constants_only(node_id, node.get("inputs", {}), self._declared(node_id))
            results = await map_classmethod(is_changed, inputs, bool(getattr(cls, "INPUT_IS_LIST", False)))
        except Exception as exc:
            log.warning("prompt %s: IS_CHANGED of node %s raised %r; the node will run", self.prompt_id, node_id, exc)
            return math.nan
        return [None if isinstance(r, ExecutionBlocker) else r for r in results]

    def key_of(self, node_id: str) -> CacheKey:
        """The node's cache key; a node made by expansion is keyed within its expanding node's scope."""
        key = self.keys.get(node_id)
        if key is None:
            signature = self.signer.key(node_id)
            parent = self.dynprompt.get_parent_node_id(node_id)
            if parent is not None:
                signature = hashlib.blake2b(self.key_of(parent) + signature, digest_size=20).digest()
            key = self.keys[node_id] = signature
        return key

    def _lookup(self, node_id: str) -> CacheEntry | None:
        key = self.key_of(node_id)
        return self.by_key.get(key) or self.engine.cache.get(key)

    def _pin_cached(self, node_id: str) -> bool:
        """Whether a node's outputs are available; a cached one is pinned for this run (eviction cannot drop it)."""
        if node_id in self.results:
            return True
        entry = self._lookup(node_id)
        if entry is None:
            return False
        self.results[node_id] = entry
        return True

    def output_of(self, node_id: str) -> list[list[Any]] | None:
        entry = self.results.get(node_id)
        if entry is None and self._pin_cached(node_id):
            entry = self.results[node_id]
        return None if entry is None else entry.outputs

    def store(self, node_id: str, entry: CacheEntry) -> None:
        self.results[node_id] = entry
        key = self.key_of(node_id)
        self.by_key[key] = entry
        parent = self.dynprompt.get_parent_node_id(node_id)
        scope = None if parent is None else self.key_of(parent)
        root = self.key_of(self.dynprompt.get_real_node_id(node_id))
        self.engine.cache.put(key, entry, node_id=node_id, root=root, scope=scope)

    def instance(self, node_id: str) -> Any:
        class_type = self.dynprompt.get_node(node_id)["class_type"]
        key = (node_id, class_type)
        obj = self.engine.instances.get(key)
        if obj is None:
            obj = self.engine.instances[key] = self.engine.registry.get_class(class_type)()
        return obj

    def _drop_stale_instances(self) -> None:
        prompt = self.request.prompt
        for node_id, class_type in list(self.engine.instances):
            node = prompt.get(node_id)
            if node is None or node["class_type"] != class_type:
                del self.engine.instances[(node_id, class_type)]

    # --cache-none: free an output once every pending consumer has run
    def _count_consumers(self, node_id: str) -> None:
        if self.engine.cache_settings.mode is not CacheMode.NONE:
            return
        for value in self.dynprompt.get_node(node_id).get("inputs", {}).values():
            if is_link(value):
                self.consumers.setdefault(value[0], set()).add(node_id)

    def _release_inputs(self, node_id: str) -> None:
        if self.engine.cache_settings.mode is not CacheMode.NONE:
            return
        for value in self.dynprompt.get_node(node_id).get("inputs", {}).values():
            if not is_link(value):
                continue
            waiting = self.consumers.get(value[0])
            if waiting is None:
                continue
            waiting.discard(node_id)
            if not waiting:
                del self.consumers[value[0]]
                entry = self.results.pop(value[0], None)
                if entry is not None:
                    self.by_key.pop(self.key_of(value[0]), None)

    # async tasks
    def track(self, task: asyncio.Task[Any]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _call_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        # Called from the cancelling thread: hand over to the run's loop. A loop already closed has
        # nothing left to wake.
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self.list is not None:
            self.list.wake()
        for task in list(self.tasks):
            task.cancel()

    async def _cancel_tasks(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
