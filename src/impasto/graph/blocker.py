"""ExecutionBlocker: an output value that stops its consumers from running (execution.md §7.6)."""

from __future__ import annotations


class ExecutionBlocker:
    """Returned in place of an output value (or as the whole result) to block every consumer.

    With a message, each blocked consumer reports it once as an `execution_error` notice of type
    `ExecutionBlocked` and the run goes on; with `None`, consumers are skipped silently.
    """

    __slots__ = ("message",)

    def __init__(self, message: str | None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"
