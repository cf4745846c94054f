"""Announcing queue changes: counts are read from the store (a short call), then broadcast."""

from __future__ import annotations

from impasto.queue import JobStore
from impasto.server.hub import Hub, QueueCounts
from impasto.server.store_calls import short_call


def read_counts(store: JobStore) -> QueueCounts:
    """The counts `status` carries (blocking: call it inside the thread that changed the queue)."""
    return QueueCounts(*store.queue_state())


async def queue_counts(store: JobStore) -> QueueCounts:
    return await short_call(store, lambda: read_counts(store))


async def announce(store: JobStore, hub: Hub) -> None:
    """Broadcast `status` after a committed queue change."""
    hub.status(await queue_counts(store))
