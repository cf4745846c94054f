"""What crosses the pipe between the server and its child processes (workers and the node host).

Plain picklable dataclasses of JSON-like data: the server side never needs the engine's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job as a worker runs it."""

    job_id: str
    prompt: dict[str, Any]
    outputs: list[str]
    extra_data: dict[str, Any]
    sensitive: dict[str, str] = field(default_factory=dict)


# server -> worker
@dataclass(frozen=True, slots=True)
class RunJob:
    job: JobSpec


@dataclass(frozen=True, slots=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True, slots=True)
class FreeMemory:
    unload_models: bool
    free_memory: bool


@dataclass(frozen=True, slots=True)
class Stop:
    pass


# worker -> server
@dataclass(frozen=True, slots=True)
class WorkerReady:
    worker_id: str
    devices: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Sent every second by a worker's own thread; silence means the process is stuck (or gone)."""

    worker_id: str


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One engine event of a job, in ComfyUI's message shape (`type`, `data`)."""

    job_id: str
    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobPreview:
    job_id: str
    node_id: str
    image_format: str
    image: bytes


@dataclass(frozen=True, slots=True)
class JobFinished:
    """The run's outcome: status ("success" / "error" / "interrupted") and its history fields."""

    job_id: str
    status: str
    outputs: dict[str, Any]
    meta: dict[str, Any]
    messages: list[list[Any]]


@dataclass(frozen=True, slots=True)
class WorkerGone:
    """Synthesized by the server side when a worker process exits (never sent by a worker)."""

    worker_id: str
    job_id: str | None
    exitcode: int | None
    unresponsive: bool = False  # killed by the server because its heartbeats stopped


# node host requests and answers
@dataclass(frozen=True, slots=True)
class CatalogRequest:
    pass


@dataclass(frozen=True, slots=True)
class RoutesRequest:
    """Where the node host serves the packs' HTTP routes, and which: a `CustomRoutes`, or None."""


@dataclass(frozen=True, slots=True)
class CustomRoutes:
    socket_path: str
    routes: list[tuple[str, str]]  # (method, path)


@dataclass(frozen=True, slots=True)
class ValidateRequest:
    class_type: str
    node_id: str
    kwargs: dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class HostReply:
    ok: bool
    value: Any = None
    exception_type: str = ""
    message: str = ""
    traceback: list[str] = field(default_factory=list)
