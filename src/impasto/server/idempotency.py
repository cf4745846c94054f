"""`Idempotency-Key` on the requests that queue work (http-api.md §7.12).

A request with a key either creates its job(s) and stores its answer in the same store transaction, or
returns the stored answer again (`Idempotency-Replayed: true`) without queueing anything. The same key with
another body is refused (422), and so is a key whose first request is still being processed (409). Only
successful answers are stored, so a request that failed validation can be retried with its key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from impasto.queue import AnswerFor, Job, JobStore, StoredAnswer
from impasto.server.errors import extension_error

HEADER = "Idempotency-Key"
REPLAYED = "Idempotency-Replayed"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")


@dataclass(frozen=True, slots=True)
class Ticket:
    """A key held for one request: build the answer the store keeps with the job(s)."""

    key: str
    body_hash: str
    expires_ms: int

    def answer(self, status: int, body: Callable[[Sequence[Job]], dict[str, Any]]) -> AnswerFor:
        def build(jobs: Sequence[Job]) -> StoredAnswer:
            return StoredAnswer(self.key, self.body_hash, status, json.dumps(body(jobs)), self.expires_ms)

        return build


class Idempotency:
    def __init__(self, store: JobStore, ttl_hours: float) -> None:
        self.store = store
        self.ttl_ms = int(ttl_hours * 3600 * 1000)
        self._busy: set[str] = set()

    async def begin(self, request: web.Request) -> Ticket | web.Response | None:
        """None without a key; the stored answer for a repeated request; else a ticket to pass to `end`."""
        key = request.headers.get(HEADER)
        if key is None:
            return None
        if not _KEY.fullmatch(key):
            raise extension_error(400, "idempotency_key_invalid", "Idempotency-Key must be 1-255 printable ASCII")
        body_hash = hashlib.sha256(await request.read()).hexdigest()
        if key in self._busy:
            raise extension_error(409, "idempotency_key_in_progress", "a request with this key is being processed")
        now = int(time.time() * 1000)
        stored = await asyncio.to_thread(self.store.get_answer, key, now)
        if stored is not None:
            if stored.body_hash != body_hash:
                raise extension_error(422, "idempotency_key_reused", "this key was used with another request body")
            return web.Response(
                status=stored.status, text=stored.body, content_type="application/json", headers={REPLAYED: "true"}
            )
        self._busy.add(key)
        return Ticket(key, body_hash, now + self.ttl_ms)

    def end(self, ticket: Ticket | None) -> None:
        if ticket is not None:
            self._busy.discard(ticket.key)

    async def run(
        self, request: web.Request, create: Callable[[Ticket | None], Awaitable[web.Response]]
    ) -> web.Response:
        """Answer a request that queues work: the stored answer to a repeat of it, else `create(ticket)`."""
        ticket = await self.begin(request)
        if isinstance(ticket, web.Response):
            return ticket  # the answer to the first request with this key: nothing is queued again
        try:
            return await create(ticket)
        finally:
            self.end(ticket)
