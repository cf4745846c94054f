"""Per-job cancellation: a token checked at interrupt points, never a process-global flag (execution.md §9.3)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Interrupted(BaseException):
    """The job was cancelled. Raised at interrupt points.

    A `BaseException`, so node code's `except Exception` does not swallow it. The compatibility
    module exposes it as `comfy.model_management.InterruptProcessingException`.
    """


class CancelToken:
    """The cancel request of one job.

    Once a user's cancel is set it stays set for the rest of the job: every later interrupt point
    raises again. Node code may withdraw only a request it made itself. Thread-safe: the worker's
    control thread sets it while the executing thread checks it; `requested` is a plain attribute
    read, cheap enough for a check on every torch module call.

    A run seals its token as it decides its end (`seal`): a user's cancel then either came first, and the run
    ends interrupted, or comes after and is refused (`cancel` returns False). So "the cancel was accepted"
    and "the job ended cancelled" are the same fact, with no moment between them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sealed = False
        self._by_user = False
        self._by_node = False
        self.requested = False
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> bool:
        """Request a cancel on behalf of a user (permanent for this job); returns whether the run ends
        cancelled. After `seal` it changes nothing and answers whether an earlier cancel did."""
        with self._lock:
            if self._sealed:
                return self._by_user
            self._by_user = True
            callbacks = self._set()
        self._fire(callbacks)
        return True

    def seal(self) -> bool:
        """The run is deciding its end: refuse later cancels; returns whether a user's cancel came first."""
        with self._lock:
            self._sealed = True
            return self._by_user

    def request_from_node(self) -> None:
        """Node code asks to stop its own job (`interrupt_current_processing(True)`)."""
        with self._lock:
            self._by_node = True
            callbacks = self._set()
        self._fire(callbacks)

    def withdraw_node_request(self) -> None:
        """Node code withdraws its own request; a user's cancel stays."""
        with self._lock:
            self._by_node = False
            self.requested = self._by_user

    def raise_if_cancelled(self) -> None:
        if self.requested:
            raise Interrupted("Processing interrupted")

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from the cancelling thread) when a cancel is requested; returns a remover."""
        with self._lock:
            self._callbacks.append(callback)
            fire = self.requested
        if fire:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def _set(self) -> list[Callable[[], None]]:
        """Mark the token (lock held) and return the callbacks to run once the lock is released."""
        self.requested = True
        return list(self._callbacks)

    @staticmethod
    def _fire(callbacks: list[Callable[[], None]]) -> None:
        for callback in callbacks:
            callback()
