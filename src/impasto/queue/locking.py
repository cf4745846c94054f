"""The lock a store holds across each of its transactions, and `uncontended` (see `JobStore.uncontended`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


def store_lock() -> threading.RLock:
    """Re-entrant, so a caller holding the store through `uncontended` can make its calls."""
    return threading.RLock()


@contextmanager
def uncontended(lock: threading.RLock) -> Iterator[bool]:
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
