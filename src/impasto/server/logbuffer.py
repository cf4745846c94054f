"""The recent server log, kept in memory for `/internal/logs` and the frontend's log terminal."""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from typing import TypedDict

DEFAULT_CAPACITY = 300


class LogEntry(TypedDict):
    t: str  # ISO 8601 local time with offset
    m: str  # the formatted record, traceback included


class LogBuffer(logging.Handler):
    """A handler that keeps the last `capacity` formatted records; older ones are dropped."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._entries: deque[LogEntry] = deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        when = datetime.fromtimestamp(record.created).astimezone().isoformat()
        # Handler.handle holds self.lock around emit, so appends never interleave with entries().
        self._entries.append({"t": when, "m": text})

    def entries(self) -> list[LogEntry]:
        """A copy of the kept entries, oldest first."""
        self.acquire()
        try:
            return list(self._entries)
        finally:
            self.release()

    def text(self) -> str:
        """The kept entries as lines `<iso time> - <message>`."""
        return "\n".join(f"{e['t']} - {e['m']}" for e in self.entries())

    def install(self, logger: logging.Logger | None = None) -> None:
        """Attach to `logger` (the root logger by default); attaching twice keeps one copy."""
        target = logger if logger is not None else logging.getLogger()
        if self not in target.handlers:
            target.addHandler(self)

    def remove(self, logger: logging.Logger | None = None) -> None:
        target = logger if logger is not None else logging.getLogger()
        target.removeHandler(self)
