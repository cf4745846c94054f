"""Announcing queue changes: counts are read from the store off the event loop, then broadcast."""

from __future__ import annotations

import asyncio

from impasto.queue import JobStore
from impasto.server.hub import Hub, QueueCounts


async def queue_counts(store: JobStore) -> QueueCounts:
    def read() -> QueueCounts:
        pending, running = store.counts()
        return QueueCounts(pending, running, store.is_paused())

    return await asyncio.to_thread(read)


async def announce(store: JobStore, hub: Hub) -> None:
    """Broadcast `status` after a committed queue change."""
    hub.status(await queue_counts(store))
