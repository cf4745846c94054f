"""`server`: ComfyUI's `PromptServer.instance` as node packs use it (node-api.md §4.7).

Packs add HTTP routes to `PromptServer.instance.routes` at import time; the node host serves them
(`impasto.compat.route_server`) and the impasto server forwards requests for them there, at the path and at
`/api` + path. `app` and `loop` are the node host's route application and its event loop once it serves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class PromptServer:
    instance: PromptServer

    def __init__(self) -> None:
        self.routes = web.RouteTableDef()
        self.app: web.Application | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.on_prompt_handlers: list[Callable[[dict[str, Any]], dict[str, Any]]] = []

    def send_sync(self, event: str | int, data: Any, sid: str | None = None) -> None:
        log.debug("send_sync(%r) from node code outside a job: not delivered", event)

    def add_on_prompt_handler(self, handler: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.on_prompt_handlers.append(handler)


PromptServer.instance = PromptServer()
