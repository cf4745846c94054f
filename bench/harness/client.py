"""An HTTP and WebSocket client for one ComfyUI-API server: the only way the harness touches a server.

Everything goes through the public API (`/prompt`, `/queue`, `/interrupt`, `/ws`, ...), so the same code
measures impasto and ComfyUI. A lost connection becomes `ServerGone`; an answer the harness cannot use
becomes `BenchError`, whose message is the reason the figure is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

REQUEST_TIMEOUT_S = 60.0


class BenchError(Exception):
    """A figure cannot be measured on this server; the message says why."""


class ServerGone(BenchError):
    """The server stopped answering (connection refused or reset, or no answer in time)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # parsed JSON, the text when it is not JSON, None when empty


class Api:
    """Requests to one server over a shared aiohttp session."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session

    async def request(self, method: str, path: str, body: Any = None, timeout: float = REQUEST_TIMEOUT_S) -> Answer:
        try:
            async with self.session.request(
                method, self.url + path, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                raw = await response.read()
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise ServerGone(f"{method} {path}: {describe(exc)}") from exc
        except TimeoutError as exc:
            raise ServerGone(f"{method} {path}: no answer in {timeout:.0f} s") from exc
        return Answer(response.status, _decode(raw))

    async def get_json(self, path: str) -> Any:
        answer = await self.request("GET", path)
        if answer.status != 200:
            raise BenchError(f"GET {path} answered {answer.status}")
        return answer.body

    async def timed(self, method: str, path: str, body: Any = None) -> tuple[float, Answer]:
        """(milliseconds until the whole answer was read, the answer)."""
        started = time.perf_counter()
        answer = await self.request(method, path, body)
        return (time.perf_counter() - started) * 1000, answer

    async def post_prompt(self, prompt: dict[str, Any], client_id: str | None = None) -> str:
        body: dict[str, Any] = {"prompt": prompt}
        if client_id is not None:
            body["client_id"] = client_id
        return prompt_id_of(await self.request("POST", "/prompt", body))

    async def queue_remaining(self) -> int:
        body = await self.get_json("/prompt")
        try:
            return int(body["exec_info"]["queue_remaining"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"GET /prompt gave no exec_info.queue_remaining: {body!r:.200}") from exc

    async def delete_pending(self, prompt_ids: list[str]) -> None:
        await self.request("POST", "/queue", {"delete": prompt_ids})

    async def clear_pending(self) -> None:
        await self.request("POST", "/queue", {"clear": True})


def prompt_id_of(answer: Answer) -> str:
    """The `prompt_id` of a POST /prompt answer, or why it was refused."""
    if answer.status == 200 and isinstance(answer.body, dict) and "prompt_id" in answer.body:
        return str(answer.body["prompt_id"])
    detail = answer.body
    if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
        error = detail["error"]
        detail = f"{error.get('type')}: {error.get('message')}"
        if isinstance(answer.body.get("node_errors"), dict) and answer.body["node_errors"]:
            detail += f" {json.dumps(answer.body['node_errors'])[:300]}"
    raise BenchError(f"POST /prompt answered {answer.status}: {str(detail)[:400]}")


class Socket:
    """One WebSocket client under its own client_id; every message is stamped (perf_counter) on arrival.

    Waiters are keyed by (event, prompt_id) and an event that arrives before anyone waits for it is kept, so
    a run that ends before its POST answers is still seen.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, client_id: str) -> None:
        self.ws = ws
        self.client_id = client_id
        self.count = 0  # text messages received
        self.last_arrival = 0.0
        self._seen: dict[tuple[str, str], float] = {}
        self._waiters: dict[tuple[str, str], asyncio.Future[float]] = {}
        self._first = asyncio.get_running_loop().create_future()
        self._closing = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, api: Api, client_id: str | None = None, timeout: float = 30.0) -> Socket:
        """Connects and waits for the server's first message (the `status` every server sends on connect)."""
        client_id = client_id or uuid.uuid4().hex
        ws_url = api.url.replace("http", "ws", 1) + f"/ws?clientId={client_id}"
        try:
            ws = await api.session.ws_connect(ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5.0), heartbeat=None)
        except (aiohttp.ClientConnectionError, aiohttp.WSServerHandshakeError, TimeoutError) as exc:
            raise ServerGone(f"WebSocket /ws: {describe(exc)}") from exc
        socket = cls(ws, client_id)
        try:
            await asyncio.wait_for(asyncio.shield(socket._first), timeout)
        except TimeoutError:
            await socket.close()
            raise BenchError(f"the WebSocket sent nothing in {timeout:.0f} s after connecting") from None
        return socket

    async def _read(self) -> None:
        reason = ""
        try:
            async for message in self.ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                arrived = time.perf_counter()
                self.count += 1
                self.last_arrival = arrived
                if not self._first.done():
                    self._first.set_result(arrived)
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    self._dispatch(json.loads(message.data), arrived)
        except (aiohttp.ClientError, ConnectionError) as exc:
            reason = f": {describe(exc)}"
        self._fail(f"the server closed the WebSocket (code {self.ws.close_code}){reason}")

    def _dispatch(self, message: dict[str, Any], arrived: float) -> None:
        kind, data = message.get("type"), message.get("data") or {}
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if not isinstance(prompt_id, str):
            return
        event = {
            "execution_start": "start",
            "progress": "progress",
            "execution_interrupted": "interrupted",
            "execution_error": "error",
            "execution_success": "success",
        }.get(str(kind))
        if kind == "executing":
            event = "end" if data.get("node") is None else "node"
        if event is None or (event, prompt_id) in self._seen:
            return
        self._seen[(event, prompt_id)] = arrived
        waiter = self._waiters.pop((event, prompt_id), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(arrived)

    def _fail(self, reason: str) -> None:
        for waiter in [self._first, *self._waiters.values()]:
            if not waiter.done():
                if self._closing:
                    waiter.cancel()
                else:
                    _fail_quietly(waiter, ServerGone(reason))
        self._waiters.clear()

    def seen(self, event: str, prompt_id: str) -> bool:
        return (event, prompt_id) in self._seen

    def arrival(self, event: str, prompt_id: str) -> asyncio.Future[float]:
        """A future of the arrival time of `event` for `prompt_id` (already done if it has arrived)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if (event, prompt_id) in self._seen:
            future.set_result(self._seen[(event, prompt_id)])
        elif self._reader.done():
            _fail_quietly(future, ServerGone("the WebSocket is closed"))
        else:
            self._waiters.setdefault((event, prompt_id), future)
            future = self._waiters[(event, prompt_id)]
        return future

    async def until(self, event: str, prompt_id: str, timeout: float) -> float:
        """The arrival time of `event` for `prompt_id`, waiting at most `timeout` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.arrival(event, prompt_id)), timeout)
        except TimeoutError:
            raise BenchError(f"no {event!r} message for prompt {prompt_id} within {timeout:.0f} s") from None

    async def close(self) -> None:
        self._closing = True
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, TimeoutError):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._fail("closed")


def _fail_quietly(future: asyncio.Future[float], error: Exception) -> None:
    """Sets the error, already marked as seen: whoever awaits the future still gets it, and a future nobody
    awaits any more (the other of two events raced) logs no "exception was never retrieved" at exit."""
    future.set_exception(error)
    future.exception()


def describe(exc: BaseException) -> str:
    """A one-line reason for a client-side error, without a traceback."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
