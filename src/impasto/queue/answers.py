"""Stored answers of requests made with an `Idempotency-Key` (http-api.md §7.12).

An answer is written in the same transaction as the job(s) its request creates, so a retry after a crash
either finds both or neither: a job is never queued twice for one key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from impasto.queue.jobs import Job


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    key: str
    body_hash: str  # of the request body: the same key with another body is refused
    status: int
    body: str  # the JSON text answered
    expires_ms: int


# Builds the answer from the jobs the transaction just created (their numbers are known only there).
AnswerFor = Callable[[Sequence[Job]], StoredAnswer]


class AnswerExistsError(Exception):
    """An answer for that key was stored meanwhile (another process took the key): nothing was queued."""
