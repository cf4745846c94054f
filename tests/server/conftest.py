"""An impasto app over a real loopback socket, with the real store and engine (in-process workers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from impasto.config import Settings
from impasto.engine.registry import NodeRegistry
from impasto.paths import Folders
from impasto.queue import SqliteJobStore
from impasto.server.app import create_app
from tests.support import testnodes
from tests.support.inprocess import InProcessNodeHost, ThreadExecutor


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(folders=Folders.from_base(tmp_path), progress_interval_ms=0)


@pytest.fixture
def node_registry() -> NodeRegistry:
    from impasto import nodes

    registry = NodeRegistry()
    registry.register_mappings(nodes.NODE_CLASS_MAPPINGS, nodes.NODE_DISPLAY_NAME_MAPPINGS)
    for name, cls in testnodes.ALL.items():
        registry.register(name, cls)
    return registry


@pytest.fixture
def executor(node_registry: NodeRegistry) -> ThreadExecutor:
    return ThreadExecutor(node_registry)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any],
    server_settings: Settings,
    node_registry: NodeRegistry,
    executor: ThreadExecutor,
    tmp_path: Path,
) -> AsyncIterator[TestClient[Any, Any]]:
    from impasto.nodes import settings as node_settings

    previous = node_settings.current()
    server_settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(server_settings.folders))
    store = SqliteJobStore(tmp_path / "queue.db")
    app = create_app(server_settings, store, executor, InProcessNodeHost(node_registry))
    test_client: TestClient[Any, Any] = await aiohttp_client(app)
    yield test_client
    await test_client.close()
    store.close()
    node_settings.configure(previous)


class Socket:
    """A /ws client that records every message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        received = await asyncio.wait_for(self.ws.receive(), timeout)
        assert received.type is aiohttp.WSMsgType.TEXT, received
        message = json.loads(received.data)
        self.messages.append(message)
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> list[dict[str, Any]]:
        """Messages up to and including the first one matching `predicate`."""
        seen = []
        while True:
            message = await self.next(timeout)
            seen.append(message)
            if predicate(message):
                return seen

    async def run_end(self, prompt_id: str) -> list[dict[str, Any]]:
        return await self.until(
            lambda m: (
                m["type"] == "executing" and m["data"].get("node") is None and m["data"].get("prompt_id") == prompt_id
            )
        )


@pytest.fixture
def connect(client: TestClient[Any, Any]) -> Callable[..., Any]:
    async def open_socket(client_id: str = "c1", path: str = "/ws") -> Socket:
        ws = await client.ws_connect(f"{path}?clientId={client_id}")
        socket = Socket(ws)
        first = await socket.next()
        assert first["type"] == "status" and first["data"]["sid"] == client_id
        return socket

    return open_socket


SAVE_PROMPT: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ComfyUI"}},
}
