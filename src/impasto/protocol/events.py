"""Names and payload shapes of the per-run events (ComfyUI's WebSocket message types)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class EventType(StrEnum):
    """Message types of a run, spelled as ComfyUI sends them."""

    STATUS = "status"  # queue state changed (server)
    EXECUTION_START = "execution_start"  # a worker began the job
    EXECUTION_CACHED = "execution_cached"  # ids of prompt nodes already cached, before anything executes
    EXECUTING = "executing"  # a node is about to execute; node null marks the end of the run (server)
    PROGRESS = "progress"  # progress update of one node
    PROGRESS_STATE = "progress_state"  # state of every non-pending node of the run
    EXECUTED = "executed"  # a node produced UI output, or a cached output node was served
    EXECUTION_SUCCESS = "execution_success"  # the run finished successfully
    EXECUTION_ERROR = "execution_error"  # a node failed (also ExecutionBlocker notices)
    EXECUTION_INTERRUPTED = "execution_interrupted"  # the run was cancelled


class NodeState(StrEnum):
    """`progress_state` state of one node."""

    RUNNING = "running"  # started, not finished
    FINISHED = "finished"  # completed or served from cache
    ERROR = "error"  # failed


class StampedData(TypedDict):
    prompt_id: str
    timestamp: int


class ExecutionCachedData(TypedDict):
    nodes: list[str]
    prompt_id: str
    timestamp: int


class ExecutingData(TypedDict):
    node: str | None
    display_node: NotRequired[str]
    prompt_id: str


class ProgressData(TypedDict):
    value: int | float
    max: int | float
    prompt_id: str
    node: str


class NodeProgress(TypedDict):
    value: int | float
    max: int | float
    state: str
    node_id: str
    prompt_id: str
    display_node_id: str
    parent_node_id: str | None
    real_node_id: str


class ProgressStateData(TypedDict):
    prompt_id: str
    nodes: dict[str, NodeProgress]


class ExecutedData(TypedDict):
    node: str
    display_node: str
    output: dict[str, Any] | None
    prompt_id: str


class ExecutionErrorData(TypedDict):
    prompt_id: str
    node_id: str
    node_type: str
    executed: list[str]
    exception_message: str
    exception_type: str
    traceback: list[str]
    current_inputs: dict[str, list[Any]] | list[Any]
    current_outputs: list[str]
    timestamp: NotRequired[int]


class ExecutionInterruptedData(TypedDict):
    prompt_id: str
    node_id: str
    node_type: str
    executed: list[str]
    timestamp: int


EXECUTION_BLOCKED = "ExecutionBlocked"
DEPENDENCY_CYCLE_ERROR = "graph.DependencyCycleError"
