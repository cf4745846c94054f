"""Short store calls from the event loop: made in place when the store is free, in a thread when it is not.

A thread hop costs more than a short call itself (about 0.3 ms on a small VM against 0.05-0.3 ms for an
insert, a claim or the counts), and it is paid on every submission and every finished job. A call made in
place never waits for another thread: when one is using the store, the call goes to a thread as before.
Only calls that touch a bounded number of rows belong here; scans and listings always go to a thread.
(Another process writing the same database file can still make a call wait, up to SQLite's busy timeout;
the server is the only writer of its store in every configuration impasto starts.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from impasto.queue import JobStore

T = TypeVar("T")


async def short_call(store: JobStore, call: Callable[[], T]) -> T:
    with store.uncontended() as free:
        if free:
            return call()
    return await asyncio.to_thread(call)
