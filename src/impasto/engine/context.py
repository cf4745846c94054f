"""Where node code is running: the job, the node and the list element, for progress and interrupt.

A context variable identifies `(prompt_id, node_id, list_index)` for each node call, so overlapping
async node calls each report their own node. `active_run()` is the job this process is executing,
for node code that reports from a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from impasto.engine.cancel import CancelToken

T = TypeVar("T")


class RunScope(Protocol):
    """What node code may reach of the run it belongs to."""

    prompt_id: str
    client_id: str | None
    token: CancelToken

    def report_progress(
        self, node_id: str, value: float, total: float, preview: tuple[str, bytes, int | None] | None = None
    ) -> None:
        """Progress of a node; an interrupt point. `preview` is (format, encoded image, max edge)."""
        ...


@dataclass(frozen=True, slots=True)
class NodeContext:
    run: RunScope
    node_id: str
    list_index: int | None


_current: ContextVar[NodeContext | None] = ContextVar("impasto_node_context", default=None)
_active: list[RunScope] = []  # the run this process is executing (at most one per worker)


def current_node() -> NodeContext | None:
    """The node call this code runs in, or None outside node code."""
    return _current.get()


def active_run() -> RunScope | None:
    """The run in progress in this process, if any (also visible from threads node code starts)."""
    context = _current.get()
    if context is not None:
        return context.run
    return _active[-1] if _active else None


def check_interrupt() -> None:
    """An interrupt point for node code's own long loops (between images of a batch, tiles, frames):
    raises `Interrupted` when the job running here has a cancel requested; nothing outside a job."""
    run = active_run()
    if run is not None:
        run.token.raise_if_cancelled()


def call_in_node(
    run: RunScope, node_id: str, list_index: int | None, function: Callable[..., T], kwargs: dict[str, Any]
) -> T:
    """Call node code inside its node context (a plain function: this runs for every node call)."""
    reset = _current.set(NodeContext(run, node_id, list_index))
    try:
        return function(**kwargs)
    finally:
        _current.reset(reset)


def enter_node(run: RunScope, node_id: str, list_index: int | None) -> None:
    """Set the node context for the rest of the current task (async node calls run in a task of their own)."""
    _current.set(NodeContext(run, node_id, list_index))


@contextmanager
def running(run: RunScope) -> Iterator[None]:
    _active.append(run)
    try:
        yield
    finally:
        _active.remove(run)
