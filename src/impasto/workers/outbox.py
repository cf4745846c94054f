"""`Outbox`: a job's messages to the server, sent in as few pipe messages as their timeliness allows.

Every pipe message wakes the server (and, through it, each browser) once, and waking a thread in the worker
for each job costs about as much as a tiny job. So messages wait here: the worker's ticker thread, which
wakes at a fixed rate anyway, sends what is pending (a node that runs long is shown running within a tick),
and the job's end sends the rest in one message with its final report. A tiny job is then one message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Outbox:
    """Ordered batches: nothing put is reordered or dropped; it is sent by the next `flush`."""

    def __init__(self, send: Callable[[list[object]], None]) -> None:
        self._send = send
        self._lock = threading.Lock()  # guards `_pending`
        self._sending = threading.Lock()  # a batch is taken and sent under it, so batches never overtake
        self._pending: list[object] = []

    def put(self, message: object) -> None:
        with self._lock:
            self._pending.append(message)

    def flush(self, *last: object) -> None:
        """Send what is pending now, followed by `last`, in one message (nothing when both are empty)."""
        with self._sending:
            with self._lock:
                batch, self._pending = self._pending, []
            batch.extend(last)
            if batch:
                self._send(batch)
