"""What crosses the pipe between the server and its child processes (workers and the node host).

Plain picklable dataclasses of JSON-like data: the server side never needs the engine's classes. Each
pickles as its class and field values (`__reduce__`), several times faster than the default for slotted
dataclasses, which matters at a pipe message or more per job; `send` pickles without multiprocessing's pickler.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar, dataclass_transform

import orjson

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def _message(cls: type[T]) -> type[T]:
    """A frozen slotted dataclass that pickles as (class, field values)."""
    made = dataclass(frozen=True, slots=True)(cls)
    names = made.__slots__  # type: ignore[attr-defined]

    def reduce(self: object) -> tuple[Callable[..., object], tuple[Any, ...]]:
        return made, tuple(getattr(self, name) for name in names)

    made.__reduce__ = reduce  # type: ignore[method-assign]
    return made


def send(conn: Connection, message: object) -> None:
    """`conn.send` with the standard pickler (the receiver's `recv` reads it as usual)."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


@_message
class JobSpec:
    """A job as a worker runs it."""

    job_id: str
    prompt: dict[str, Any]
    outputs: list[str]
    extra_data: dict[str, Any]
    sensitive: dict[str, str] = field(default_factory=dict)
    # extra_data as JSON text that orjson reads back exactly, sent instead of `extra_data` (then empty) when the
    # server has it: a frontend submission's UI workflow crosses the pipe as one string, not as thousands of
    # pickled objects (about 0.25 ms of server CPU for 52 KB).
    extra_data_json: str | None = None

    def extra(self) -> dict[str, Any]:
        """The job's extra_data, whichever way it came."""
        if self.extra_data_json is None:
            return self.extra_data
        decoded: dict[str, Any] = orjson.loads(self.extra_data_json)
        return decoded


# server -> worker
@_message
class RunJob:
    job: JobSpec


@_message
class CancelJob:
    job_id: str


@_message
class FreeMemory:
    unload_models: bool
    free_memory: bool


@_message
class Stop:
    pass


# worker -> server
@_message
class WorkerReady:
    worker_id: str
    devices: list[dict[str, Any]]


@_message
class Heartbeat:
    """Sent every second by a worker's own thread; silence means the process is stuck (or gone)."""

    worker_id: str


@_message
class CancelAnswer:
    """Whether a `CancelJob` ends its job cancelled (False: the job ended, or decided its end, without it)."""

    job_id: str
    accepted: bool


@_message
class JobEvent:
    """One engine event of a job, in ComfyUI's message shape (`type`, `data`)."""

    job_id: str
    type: str
    data: dict[str, Any]


@_message
class JobPreview:
    job_id: str
    node_id: str
    image_format: str
    image: bytes


@_message
class ClientMessage:
    """A message node code sends to clients (`PromptServer.instance.send_sync`): to `sid`'s sockets, or to all."""

    event: str | int
    data: Any
    sid: str | None
    job_id: str | None  # the job whose node sent it (None outside a job)


@_message
class JobFinished:
    """The run's outcome: status ("success" / "error" / "interrupted") and its history fields."""

    job_id: str
    status: str
    outputs: dict[str, Any]
    meta: dict[str, Any]
    messages: list[list[Any]]
    rss_bytes: int = 0  # the worker's resident memory after the job (0: unknown)


@_message
class WorkerGone:
    """Synthesized by the server side when a worker process exits (never sent by a worker)."""

    worker_id: str
    job_id: str | None
    exitcode: int | None
    unresponsive: bool = False  # killed by the server because its heartbeats stopped


# node host requests and answers
@_message
class CatalogRequest:
    pass


@_message
class RoutesRequest:
    """Where the node host serves the packs' HTTP routes, and which: a `CustomRoutes`, or None."""


@_message
class WebDirectoriesRequest:
    """The packs' frontend extension folders (WEB_DIRECTORY): {pack name: absolute folder}."""


@_message
class CustomRoutes:
    socket_path: str
    routes: list[tuple[str, str]]  # (method, path)


@_message
class ValidateRequest:
    class_type: str
    node_id: str
    kwargs: dict[str, list[Any]]


@_message
class HostReply:
    ok: bool
    value: Any = None
    exception_type: str = ""
    message: str = ""
    traceback: list[str] = field(default_factory=list)
