"""One WebSocket's outbound side: its own buffer and sender, progress coalescing, and a bound (websocket.md §5).

Lifecycle messages are queued in order and never dropped. Progress messages wait in a slot per
(run, kind) where a newer one replaces an unsent one, and are released at most every interval. Before a
lifecycle message of a run is queued, that run's waiting progress goes first, so order is kept and a
terminal message never sits behind a backlog. A socket that cannot keep up is closed (1013), never
waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from aiohttp import WSCloseCode, web

from impasto.server.frames import frame

log = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 1000
MAX_QUEUED_BYTES = 8 * 1024 * 1024
WRITE_BUFFER_HIGH = 256 * 1024  # bytes in the socket's send buffer above which the sender waits
WRITE_POLL_S = 0.01  # how often a full send buffer is looked at again

Payload = str | bytes


class Channel:
    """The sending side of one socket."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        sid: str,
        interval_s: float,
        transport: asyncio.WriteTransport | None = None,
    ) -> None:
        self.ws = ws
        # Frames are written straight to the connection (`frames.frame`), whole, so they never interleave
        # with the pings and the close frame that aiohttp writes.
        self.transport = transport
        self.sid = sid
        self.interval_s = interval_s
        self.flags: dict[str, Any] = {}
        self._queue: deque[Payload] = deque()
        self._queued_bytes = 0
        self._waiting: dict[tuple[str, str], Payload] = {}  # (prompt_id, kind) -> newest unsent progress
        self._last_release: dict[tuple[str, str], float] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._scheduled = False  # a flush at the end of this loop turn is scheduled
        self._stalled = False  # the socket's send buffer is full: a timer looks at it again
        self._ended = asyncio.Event()  # closed: `run` closes the socket
        self._close_code: int | None = None
        self.closed = False

    @property
    def observer(self) -> bool:
        return bool(self.flags.get("impasto_observer"))

    @property
    def preview_metadata(self) -> bool:
        return bool(self.flags.get("supports_preview_metadata"))

    def send(
        self, payload: Payload, prompt_id: str | None = None, *, terminal: bool = False, now: bool = False
    ) -> None:
        """Queue a lifecycle message (after the run's waiting progress; a terminal one drops its previews); with
        `now`, write it, and what is queued before it, at once instead of at the end of the loop turn."""
        if self.closed:
            return
        if prompt_id is not None:
            self._release_run(prompt_id, drop_previews=terminal)
        self._enqueue(payload, now=now)

    def send_progress(self, prompt_id: str, kind: str, payload: Payload) -> None:
        """Queue a coalescable message: `kind` is "progress", "progress_state" or "preview:<node>"."""
        if self.closed:
            return
        key = (prompt_id, kind)
        self._waiting[key] = payload
        if key in self._timers:
            return
        delay = self._last_release.get(key, 0.0) + self.interval_s - time.monotonic()
        if delay <= 0:
            self._release(key)
        else:
            self._timers[key] = asyncio.get_running_loop().call_later(delay, self._release, key)

    def _release(self, key: tuple[str, str]) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        payload = self._waiting.pop(key, None)
        if payload is not None:
            self._last_release[key] = time.monotonic()
            self._enqueue(payload)

    def _release_run(self, prompt_id: str, *, drop_previews: bool) -> None:
        for key in [k for k in self._waiting if k[0] == prompt_id]:
            if drop_previews and key[1].startswith("preview:"):
                self._waiting.pop(key, None)
                timer = self._timers.pop(key, None)
                if timer is not None:
                    timer.cancel()
            else:
                self._release(key)
        if drop_previews:
            for key in [k for k in self._last_release if k[0] == prompt_id]:
                del self._last_release[key]

    def _enqueue(self, payload: Payload, *, now: bool = False) -> None:
        self._queue.append(payload)
        self._queued_bytes += len(payload)
        if len(self._queue) > MAX_QUEUED_MESSAGES or self._queued_bytes > MAX_QUEUED_BYTES:
            log.warning("closing socket %s: it does not keep up (%d messages queued)", self.sid, len(self._queue))
            self.close(WSCloseCode.TRY_AGAIN_LATER)
            return
        if self._stalled:
            return  # written when the socket's buffer drains
        if now:
            self._write()
        elif not self._scheduled:
            # Once per loop turn, whatever is queued by then: one write, and one wake-up of the client.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def close(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._close_code = code
        self._ended.set()

    async def run(self) -> None:
        """Until the channel closes; then closes the socket with the channel's code, if it has one."""
        await self._ended.wait()
        if self._close_code is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close(code=self._close_code)

    def _flush(self) -> None:
        self._scheduled = False
        self._write()

    def _unstall(self) -> None:
        self._stalled = False
        self._write()

    def _write(self) -> None:
        """Write what is queued in one write, unless the socket's send buffer is above the high mark: then look
        again every `WRITE_POLL_S` while messages keep queuing (a client that does not drain its socket is closed
        by the queue's bound, never waited for)."""
        if self.closed or not self._queue:
            return
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            log.debug("socket %s gone while sending", self.sid)
            self._gone()
            return
        if transport.get_write_buffer_size() > WRITE_BUFFER_HIGH:
            self._stalled = True
            asyncio.get_running_loop().call_later(WRITE_POLL_S, self._unstall)
            return
        batch = []
        while self._queue:
            payload = self._queue.popleft()
            self._queued_bytes -= len(payload)
            batch.append(frame(payload))
        try:
            transport.write(b"".join(batch))
        except (ConnectionResetError, RuntimeError) as exc:
            log.debug("socket %s gone while sending: %s", self.sid, exc)
            self._gone()

    def _gone(self) -> None:
        """The connection went away: nothing more is sent, and there is nothing to close."""
        self.closed = True
        self._queue.clear()
        self._ended.set()
