"""The topological dissolve that decides which node runs next (execution.md §6).

Nodes wait in a pending set with a count of the pending nodes (or outstanding async tasks) that block
them. Among the ready ones the list prefers output and async nodes, then nodes that feed an output,
then nodes two steps from one, then the first ready node, in the order nodes were added.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from impasto.engine.cancel import CancelToken, Interrupted
from impasto.graph.dynprompt import DependencyCycleError, DynamicPrompt, NodeInputError
from impasto.protocol.prompt import is_link, link_index


class ExecutionList:
    """Pending nodes of one run and the links that block them.

    Args:
        is_cached: whether a node's output is available without running it (links to it block nothing).
        is_lazy: whether a node's input is declared lazy (not followed until the node asks for it).
        is_output: output node (preferred when ready).
        is_async: the node's function is a coroutine function (preferred when ready).
        on_enter: called for each node that becomes pending.
    """

    def __init__(
        self,
        dynprompt: DynamicPrompt,
        *,
        is_cached: Callable[[str], bool],
        is_lazy: Callable[[str, str], bool],
        is_output: Callable[[str], bool],
        is_async: Callable[[str], bool],
        token: CancelToken,
        on_enter: Callable[[str], None] = lambda _n: None,
    ) -> None:
        self._dynprompt = dynprompt
        self._is_cached = is_cached
        self._is_lazy = is_lazy
        self._is_output = is_output
        self._is_async = is_async
        self._token = token
        self._on_enter = on_enter
        self._order = itertools.count()
        self._pending: dict[str, int] = {}  # node -> position in the order nodes were added
        self._block_count: dict[str, int] = {}
        self._blocking: dict[str, dict[str, set[int]]] = {}  # source -> {blocked node: sockets}
        self._ready: set[str] = set()
        self._external: dict[str, int] = {}  # node -> outstanding external blocks (async tasks)
        self._unblocked = asyncio.Event()
        self.staged: str | None = None

    def is_empty(self) -> bool:
        return not self._pending

    def add_node(self, node_id: str, include_lazy: bool = False) -> None:
        """Add a node and, transitively, every uncached source it needs."""
        todo = [node_id]
        links: list[tuple[str, int, str]] = []
        while todo:
            current = todo.pop()
            if current in self._pending:
                continue
            self._enter(current)
            for name, value in self._dynprompt.get_node(current).get("inputs", {}).items():
                socket = _socket(value)
                if socket is None or not self._dynprompt.has_node(value[0]):
                    continue  # not a link, or one to nothing: the node gets None for it
                if include_lazy or not self._is_lazy(current, name):
                    source = value[0]
                    if not self._is_cached(source):
                        todo.append(source)
                    links.append((source, socket, current))
        for source, socket, target in links:
            self.add_strong_link(source, socket, target)

    def add_strong_link(self, source: str, socket: int, target: str) -> None:
        """`target` waits for `source` (unless its output is cached)."""
        if self._is_cached(source):
            return
        self.add_node(source)
        blocked = self._blocking[source]
        if target not in blocked:
            blocked[target] = set()
            self._block(target, 1)
        blocked[target].add(socket)

    def make_input_strong_link(self, target: str, input_name: str) -> None:
        """A lazy input the node asked for becomes a real dependency."""
        inputs = self._dynprompt.get_node(target).get("inputs", {})
        if input_name not in inputs:
            raise NodeInputError(
                f"Node {target} says it needs input {input_name}, but there is no input to that node at all"
            )
        value = inputs[input_name]
        socket = _socket(value)
        if socket is None:
            raise NodeInputError(f"Node {target} says it needs input {input_name}, but that value is a constant")
        self.add_strong_link(value[0], socket, target)

    def add_external_block(self, node_id: str) -> Callable[[], None]:
        """Block a pending node until the returned callable is called (from the run's event loop)."""
        self._external[node_id] = self._external.get(node_id, 0) + 1
        self._block(node_id, 1)

        def unblock() -> None:
            self._external[node_id] -= 1
            if not self._external[node_id]:
                del self._external[node_id]
            self._block(node_id, -1)
            self._unblocked.set()

        return unblock

    def wake(self) -> None:
        """Wake a stage() waiting for async tasks (used when a cancel arrives)."""
        self._unblocked.set()

    def externally_blocked(self) -> list[str]:
        """Nodes waiting for async tasks, in the order they were added."""
        return sorted(self._external, key=self._pending.__getitem__)

    async def stage(self) -> str:
        """Pick the next node to execute. Raises DependencyCycleError, or Interrupted while waiting."""
        assert self.staged is None
        while not self._ready and self._external:
            if self._token.requested:
                raise Interrupted("Processing interrupted")
            await self._unblocked.wait()
            self._unblocked.clear()
        if not self._ready:
            raise DependencyCycleError(self._nodes_in_cycle())
        self.staged = self._pick()
        return self.staged

    def unstage(self) -> None:
        """The staged node went back to pending (lazy inputs, expansion, async tasks)."""
        self.staged = None

    def complete(self) -> None:
        """The staged node finished: release the nodes it blocked."""
        node_id = self.staged
        assert node_id is not None
        self.staged = None
        del self._pending[node_id]
        del self._block_count[node_id]
        self._ready.discard(node_id)
        for blocked in self._blocking.pop(node_id):
            self._block(blocked, -1)

    def _enter(self, node_id: str) -> None:
        self._pending[node_id] = next(self._order)
        self._block_count[node_id] = 0
        self._blocking[node_id] = {}
        self._ready.add(node_id)
        self._on_enter(node_id)

    def _block(self, node_id: str, delta: int) -> None:
        count = self._block_count[node_id] = self._block_count[node_id] + delta
        if count == 0:
            self._ready.add(node_id)
        else:
            self._ready.discard(node_id)

    def _pick(self) -> str:
        if len(self._ready) == 1:
            return next(iter(self._ready))
        ready = sorted(self._ready, key=self._pending.__getitem__)
        for node_id in ready:
            if self._is_output(node_id) or self._is_async(node_id):
                return node_id
        for node_id in ready:
            if any(self._is_output(b) for b in self._blocking[node_id]):
                return node_id
        for node_id in ready:
            for blocked in self._blocking[node_id]:
                if any(self._is_output(b) for b in self._blocking[blocked]):
                    return node_id
        return ready[0]

    def _nodes_in_cycle(self) -> list[str]:
        """Pending nodes left after repeatedly removing those no pending node blocks: cycles and what they feed."""
        blocked_by: dict[str, set[str]] = {n: set() for n in self._pending}
        for source, blocked in self._blocking.items():
            for target in blocked:
                blocked_by[target].add(source)
        free = [n for n, sources in blocked_by.items() if not sources]
        while free:
            for node_id in free:
                del blocked_by[node_id]
            for sources in blocked_by.values():
                sources.difference_update(free)
            free = [n for n, sources in blocked_by.items() if not sources]
        return sorted(blocked_by, key=self._pending.__getitem__)


def _socket(value: object) -> int | None:
    """The output index of a link, or None for a constant or a link whose index is not a whole number."""
    return link_index(value) if is_link(value) else None
