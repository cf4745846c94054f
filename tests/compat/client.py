"""A ComfyUI-style client for black-box tests: a WebSocket with a clientId, POST /prompt, events, /history, /view.

It uses only the HTTP and WebSocket API, as the harnesses written for ComfyUI do.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Outcome:
    """What one submitted prompt produced: the POST answer, its events in order, its history entry."""

    status: int
    answer: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    binary: list[bytes] = field(default_factory=list)
    history: dict[str, Any] | None = None

    @property
    def prompt_id(self) -> str:
        return str(self.answer["prompt_id"])

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["type"] == type_]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def executed_nodes(self) -> list[str]:
        """Node ids announced by `executing` (the nodes whose code ran), in order, without duplicates."""
        seen: dict[str, None] = {}
        for data in self.of("executing"):
            if data.get("node") is not None:
                seen[data["node"]] = None
        return list(seen)

    def cached(self) -> list[str]:
        (cached,) = self.of("execution_cached")
        return list(cached["nodes"])

    def error(self) -> dict[str, Any] | None:
        errors = [e for e in self.of("execution_error") if e.get("exception_type") != "ExecutionBlocked"]
        return errors[0] if errors else None

    def status_str(self) -> str | None:
        return None if self.history is None else self.history["status"]["status_str"]

    def outputs(self) -> dict[str, Any]:
        return {} if self.history is None else dict(self.history["outputs"])


class Client:
    """One WebSocket session against a server at `url`; `run` submits a prompt and waits for its end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client_id = str(uuid.uuid4())
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.extra: list[dict[str, Any]] = []  # messages of no run (custom events, status)

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"{self.url}/ws?clientId={self.client_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.post(self.url + path, json=body) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.get(self.url + path) as response:
            raw = await response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw

    async def get_bytes(self, path: str) -> tuple[int, bytes]:
        assert self._session is not None
        async with self._session.get(self.url + path) as response:
            return response.status, await response.read()

    async def run(self, prompt: dict[str, Any], timeout: float = 60.0, **extra: Any) -> Outcome:
        """Submit and collect this prompt's events up to `executing` with `node: null`; then read its history."""
        status, answer = await self.post("/prompt", {"prompt": prompt, "client_id": self.client_id, **extra})
        outcome = Outcome(status, answer)
        if status != 200:
            return outcome
        await asyncio.wait_for(self._collect(outcome), timeout)
        _, history = await self.get(f"/history/{outcome.prompt_id}")
        outcome.history = history.get(outcome.prompt_id)
        return outcome

    async def _collect(self, outcome: Outcome) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                outcome.binary.append(message.data)
                continue
            if message.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket ended: {message.type}")
            event = json.loads(message.data)
            data = event.get("data") or {}
            if not isinstance(data, dict) or data.get("prompt_id") != outcome.prompt_id:
                self.extra.append(event)
                continue
            outcome.events.append(event)
            if event["type"] == "executing" and data.get("node") is None:
                return


def run_all(url: str, prompts: list[dict[str, Any]], **extra: Any) -> list[Outcome]:
    """Run prompts one after another on one client session (synchronous wrapper for tests)."""

    async def go() -> list[Outcome]:
        async with Client(url) as client:
            return [await client.run(p, **extra) for p in prompts]

    return asyncio.run(go())
