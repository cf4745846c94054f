"""An HTTP + WebSocket client for one impasto or ComfyUI server, over TCP or a unix socket.

Every failure to reach the server becomes a `CommandError` with exit code 2 and the address in its message,
so no subcommand shows a traceback for a server that is down or a typo in `--server`.
"""

from __future__ import annotations

import json
import os
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from impasto.cli.output import USAGE, CommandError, short

DEFAULT_SERVER = "http://127.0.0.1:8188"
SERVER_ENV = "IMPASTO_SERVER"


def server_url(value: str | None) -> str:
    """`--server` as a base URL: `8190` and `host:8190` mean http://; the default is $IMPASTO_SERVER or :8188."""
    text = (value or os.environ.get(SERVER_ENV) or DEFAULT_SERVER).strip().rstrip("/")
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"--server must be an http(s) URL or host:port, not {value!r}")
    return text


class ApiError(CommandError):
    """The server answered with an error status; `body` is what it said."""

    def __init__(self, status: int, body: Any, path: str) -> None:
        self.status = status
        super().__init__(f"{path}: {status} {describe(body)}", USAGE if status == 400 else 1, body=body)


def describe(body: Any) -> str:
    """The reason in an error body: the envelope's message and details, or a Jobs-style error string."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message, details = str(error.get("message", "")), str(error.get("details", ""))
            return f"{message} ({details})" if details else message
        if error is not None:
            return str(error)
    return short(body, 200)


class Server:
    """An open session to a server; use as `async with Server(url) as server:`."""

    def __init__(self, url: str, *, unix_path: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        self.unix_path = unix_path
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def where(self) -> str:
        return self.unix_path or self.url

    async def __aenter__(self) -> Server:
        connector = aiohttp.UnixConnector(path=self.unix_path) if self.unix_path else aiohttp.TCPConnector()
        self._session = aiohttp.ClientSession(self.url, connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use the server in `async with`"
        return self._session

    async def request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One call: the status and the JSON body (None when empty, the text when it is not JSON)."""
        try:
            async with self.session.request(
                method, path, json=body, params=params, headers={"Comfy-Usage-Source": "impasto-cli"}
            ) as response:
                raw = await response.read()
                return response.status, _parse(raw)
        except aiohttp.ClientConnectionError as exc:
            raise CommandError(f"cannot reach the server at {self.where}: {_reason(exc)}") from None
        except TimeoutError:
            raise CommandError(f"the server at {self.where} did not answer {method} {path} in time") from None

    async def download(self, path: str, params: dict[str, str]) -> bytes:
        """The raw body of a GET (a file from /view); an ApiError when it is not 200."""
        try:
            async with self.session.get(path, params=params) as response:
                raw = await response.read()
                if response.status != 200:
                    raise ApiError(response.status, _parse(raw), path)
                return raw
        except aiohttp.ClientConnectionError as exc:
            raise CommandError(f"cannot reach the server at {self.where}: {_reason(exc)}") from None

    async def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """The JSON body of a successful call; an ApiError for any 4xx or 5xx."""
        status, answer = await self.request(method, path, body, params)
        if status >= 400:
            raise ApiError(status, answer, path)
        return answer

    async def impasto(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """A call to impasto's own API; a clear message when the server is not impasto (ComfyUI has none)."""
        status, answer = await self.request(method, path, body, params)
        if status == 404 and not (isinstance(answer, dict) and isinstance(answer.get("error"), dict)):
            raise CommandError(f"the server at {self.where} does not offer impasto's API ({path}); is it ComfyUI?")
        if status >= 400:
            raise ApiError(status, answer, path)
        return answer

    async def websocket(self, client_id: str, *, observer: bool = False) -> aiohttp.ClientWebSocketResponse:
        """The /ws socket as `client_id`; an observer also gets every other job's run events."""
        try:
            ws = await self.session.ws_connect("/ws", params={"clientId": client_id}, heartbeat=30.0)
        except (aiohttp.ClientConnectionError, aiohttp.WSServerHandshakeError) as exc:
            raise CommandError(f"cannot open the WebSocket of {self.where}: {_reason(exc)}") from None
        flags: dict[str, Any] = {"supports_preview_metadata": True}
        if observer:
            flags["impasto_observer"] = True
        await ws.send_str(json.dumps({"type": "feature_flags", "data": flags}))
        return ws


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace").strip()


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "os_error", None) or exc
    text = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    return str(text)
