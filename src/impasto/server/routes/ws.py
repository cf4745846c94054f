"""The /ws socket (websocket.md §1-2): first status with sid, feature flags, replay, then the hub's messages."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from aiohttp import WSMsgType, web

from impasto.server.channel import Channel
from impasto.server.hub import message
from impasto.server.keys import HUB, SETTINGS, STORE
from impasto.server.routes.system import server_features
from impasto.server.routing import add_routes
from impasto.server.status import queue_counts

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    add_routes(app, routes)


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    # No permessage-deflate: the messages are small JSON and previews are already compressed images, and
    # uncompressed frames can be written in batches (`Channel`).
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=16 * 1024 * 1024, compress=False)
    await ws.prepare(request)
    sid = request.query.get("clientId") or uuid.uuid4().hex
    settings = request.app[SETTINGS]
    channel = Channel(ws, sid, settings.progress_interval_ms / 1000, request.transport)
    hub = request.app[HUB]
    hub.connect(channel, await queue_counts(request.app[STORE]))
    hub.replay(channel)
    sender = asyncio.create_task(channel.run())
    first = True
    try:
        async for received in ws:
            if not first or received.type is not WSMsgType.TEXT:
                continue  # only the first text message is examined; the rest is ignored
            first = False
            try:
                parsed = json.loads(received.data)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and parsed.get("type") == "feature_flags":
                flags = parsed.get("data")
                channel.flags = flags if isinstance(flags, dict) else {}
                channel.send(message("feature_flags", server_features(settings)))
                if channel.observer:
                    hub.replay(channel, others=True)
        return ws
    finally:
        hub.disconnect(channel)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
