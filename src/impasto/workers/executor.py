"""The `Executor` protocol: where jobs run. The server only talks to this (local processes now, Ray later)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from impasto.workers.messages import (
    CancelAnswer,
    ClientMessage,
    JobEvent,
    JobFinished,
    JobPreview,
    JobSpec,
    WorkerGone,
    WorkerReady,
)

ExecutorMessage = WorkerReady | JobEvent | JobPreview | JobFinished | WorkerGone | ClientMessage | CancelAnswer


class Executor(Protocol):
    async def start(self) -> None:
        """Start the workers; returns once each has reported ready."""
        ...

    def idle_workers(self) -> list[str]:
        """The ids of the workers that can take a job now."""
        ...

    def submit(self, worker_id: str, job: JobSpec) -> None:
        """Hand a job to an idle worker (one of `idle_workers`)."""
        ...

    def interrupt(self, job_id: str, *, force: bool = False) -> bool:
        """Set the job's cancellation token in its worker (force: kill the worker).

        The worker answers each cooperative cancel with a `CancelAnswer` message. Returns whether a worker
        was running the job. False means its worker already reported the job's end
        (or its death), which is on its way to the caller as a message.
        """
        ...

    def free(self, *, unload_models: bool, free_memory: bool) -> None:
        """Ask every worker to free memory at its next idle moment."""
        ...

    def devices(self) -> list[dict[str, Any]]: ...

    def workers(self) -> list[dict[str, Any]]:
        """One entry per worker: id, device, state (starting/idle/busy), job_id, pid, restarts, rss_bytes."""
        ...

    def messages(self) -> AsyncIterator[ExecutorMessage]:
        """Everything the workers report, in the order each worker sent it."""
        ...

    def listen(self, arrived: Callable[[], None]) -> None:
        """Call `arrived` on the event loop after messages arrive, so the caller can `poll` for them at once
        (they are also handed out by `messages`, to a caller that does not poll)."""
        ...

    def poll(self) -> list[ExecutorMessage]:
        """What the workers have reported and `messages` has not yet handed out, without waiting (each message
        is handed out once, by one or the other, in order)."""
        ...

    async def close(self) -> None: ...
