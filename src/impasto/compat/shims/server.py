"""`server`: ComfyUI's `PromptServer.instance` as node packs use it (node-api.md §4.7).

Packs add HTTP routes to `PromptServer.instance.routes` at import time; the node host serves them
(`impasto.compat.route_server`) and the impasto server forwards requests for them there, at the path and at
`/api` + path. `app` and `loop` are the node host's route application and its event loop once it serves.

In a worker, `send_sync` hands each message to the relay the worker installed (`impasto.compat.runtime`),
which sends it to the server over the worker's pipe; the server delivers it to the sockets of `sid`, or to
every socket. `client_id`, `last_prompt_id` and `last_node_id` describe the job and node running now.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import web

from impasto.compat.runtime import client_relay
from impasto.engine.context import active_run, current_node

log = logging.getLogger(__name__)

TEXT_FRAME = 3  # binary frame type of progress text (websocket.md §7)


class BinaryEventTypes:
    """ComfyUI's binary frame type numbers."""

    PREVIEW_IMAGE = 1
    UNENCODED_PREVIEW_IMAGE = 2
    TEXT = TEXT_FRAME
    PREVIEW_IMAGE_WITH_METADATA = 4


class PromptServer:
    instance: PromptServer

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.app: web.Application | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_prompt_handlers: list[Callable[[dict[str, Any]], dict[str, Any]]] = []
        self.supports = ["custom_nodes_from_web"]

    @property
    def client_id(self) -> str | None:
        """The client of the job running in this process (None outside a job)."""
        run = active_run()
        return None if run is None else run.client_id

    @property
    def last_prompt_id(self) -> str | None:
        run = active_run()
        return None if run is None else run.prompt_id

    @property
    def last_node_id(self) -> str | None:
        context = current_node()
        return None if context is None else context.node_id

    def send_sync(self, event: str | int, data: Any, sid: str | None = None) -> None:
        """Send `{"type": event, "data": data}` (a binary frame for an int event with bytes) to `sid`'s sockets,
        or to every socket when `sid` is None. Callable from any thread."""
        relay = client_relay()
        if relay is None:
            log.debug("send_sync(%r) where no server is reachable (outside a worker): not delivered", event)
            return
        run = active_run()
        relay(event, data, sid, None if run is None else run.prompt_id)

    async def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self.send_sync(event, data, sid)

    def send_progress_text(self, text: str | bytes, node_id: str, sid: str | None = None) -> None:
        """A binary type 3 frame with the node id and text; without `sid`, to the current job's client."""
        encoded = text.encode() if isinstance(text, str) else bytes(text)
        node = str(node_id).encode()
        if sid is None:
            sid = self.client_id
        self.send_sync(TEXT_FRAME, struct.pack(">I", len(node)) + node + encoded, sid)

    def add_on_prompt_handler(self, handler: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.on_prompt_handlers.append(handler)


PromptServer.instance = PromptServer()
