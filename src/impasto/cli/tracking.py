"""What `impasto run` knows about each of its jobs, folded from the WebSocket messages (websocket.md §3-4)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from impasto.cli.plan import Item
from impasto.protocol.events import EventType, NodeState


class RunStatus(StrEnum):
    """Where one job of the run is."""

    PENDING = "pending"  # queued, not started
    RUNNING = "running"  # a worker is executing it
    COMPLETED = "completed"  # execution_success
    FAILED = "failed"  # execution_error
    INTERRUPTED = "interrupted"  # execution_interrupted
    REMOVED = "removed"  # taken off the queue before it started

    @property
    def done(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


@dataclass
class JobRun:
    item: Item
    prompt_id: str
    status: RunStatus = RunStatus.PENDING
    started: float | None = None
    ended: float | None = None
    cached: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    node: str | None = None  # executing now
    step: tuple[float, float] | None = None  # the executing node's progress (value, max)
    error: dict[str, Any] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    reported: bool = False  # its outcome and files have been printed

    started_ms: int | None = None  # the server's timestamps of the start and the end
    ended_ms: int | None = None

    @property
    def elapsed(self) -> float | None:
        """Seconds from start to end by the server's clock, else as this client saw them."""
        if self.started_ms is not None and self.ended_ms is not None:
            return max(0, self.ended_ms - self.started_ms) / 1000
        if self.started is None:
            return None
        return (self.ended or time.monotonic()) - self.started

    def apply(self, kind: str, data: Mapping[str, Any]) -> bool:
        """Fold one message of this job in; True when it ended the job."""
        was_done = self.status.done
        stamp = data.get("timestamp")
        if kind == EventType.EXECUTION_START:
            self.status, self.started = RunStatus.RUNNING, time.monotonic()
            self.started_ms = stamp if isinstance(stamp, int) else None
        elif kind == EventType.EXECUTION_CACHED:
            self.cached.update(str(n) for n in data.get("nodes") or [])
            self._start()
        elif kind == EventType.EXECUTING:
            self._executing(data.get("node"))
        elif kind == EventType.PROGRESS:
            self.step = (float(data.get("value", 0)), float(data.get("max", 0) or 0))
            self._start()
        elif kind == EventType.PROGRESS_STATE:
            for node_id, state in (data.get("nodes") or {}).items():
                if isinstance(state, dict) and state.get("state") == NodeState.FINISHED:
                    self.finished.add(str(state.get("display_node_id") or node_id))
        elif kind == EventType.EXECUTED:
            self.outputs[str(data.get("node"))] = data.get("output")
            self.finished.add(str(data.get("node")))
        if kind in _TERMINAL and isinstance(stamp, int) and not self.status.done:
            self.ended_ms = stamp
        if kind == EventType.EXECUTION_SUCCESS:
            self._end(RunStatus.COMPLETED)
        elif kind == EventType.EXECUTION_ERROR:
            self.error = dict(data)
            self._end(RunStatus.FAILED)
        elif kind == EventType.EXECUTION_INTERRUPTED:
            self._end(RunStatus.INTERRUPTED)
        return self.status.done and not was_done

    def _start(self) -> None:
        if self.status is RunStatus.PENDING:
            self.status, self.started = RunStatus.RUNNING, time.monotonic()

    def _executing(self, node: object) -> None:
        if self.node is not None and node is not None and self.node != node:
            self.finished.add(self.node)  # the next node starts once the previous one finished
        self.node = None if node is None else str(node)
        self.step = None
        if node is not None:
            self._start()

    def _end(self, status: RunStatus) -> None:
        if self.status.done:
            return
        self.status, self.ended = status, time.monotonic()
        if self.started is None:
            self.started = self.ended
        if status is RunStatus.COMPLETED and self.node is not None:
            self.finished.add(self.node)
        self.node, self.step = None, None

    def end_from_history(self, entry: Mapping[str, Any]) -> bool:
        """Finish from a `/history` entry (when the socket missed the end); True when that ended it."""
        status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
        assert isinstance(status, dict)
        messages = [m for m in status.get("messages") or [] if isinstance(m, list) and len(m) == 2]
        for kind, data in messages:
            if kind in (EventType.EXECUTION_ERROR, EventType.EXECUTION_INTERRUPTED, EventType.EXECUTION_SUCCESS):
                self.apply(str(kind), data if isinstance(data, dict) else {})
        if not self.status.done:
            self._end(RunStatus.COMPLETED if status.get("status_str") == "success" else RunStatus.FAILED)
        outputs = entry.get("outputs")
        if isinstance(outputs, dict):
            self.outputs.update(outputs)
        return True

    def removed(self) -> None:
        self._end(RunStatus.REMOVED)


_TERMINAL = (EventType.EXECUTION_SUCCESS, EventType.EXECUTION_ERROR, EventType.EXECUTION_INTERRUPTED)


def message_prompt_id(data: Mapping[str, Any]) -> str | None:
    prompt_id = data.get("prompt_id")
    return prompt_id if isinstance(prompt_id, str) else None
