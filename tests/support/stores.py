"""Store doubles for tests that hold a store call on purpose."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class CallsInThreads:
    """Mixed into a store whose calls a test holds: the server then makes every call in a thread (never on its
    event loop), so the loop keeps serving requests while the call waits."""

    @contextlib.contextmanager
    def uncontended(self) -> Iterator[bool]:
        yield False
