"""Serving the HTTP routes that node packs add to `PromptServer.instance.routes`, in the node host.

The routes run in an aiohttp application of their own, on a thread with its own event loop, listening on a
Unix socket that only this user can open. The impasto server forwards matching requests to it
(`impasto.server.custom_routes`); each route is served at its path and at `/api` + path, as in ComfyUI.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from impasto.compat.shims.server import PromptServer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedRoutes:
    socket_path: str
    routes: list[tuple[str, str]]  # (method, path) as registered, both path forms


def serve_pack_routes(server: PromptServer, max_body_bytes: int) -> ServedRoutes | None:
    """Start serving the packs' routes; None when no pack added any."""
    definitions = [r for r in server.routes if isinstance(r, web.RouteDef)]
    if not definitions:
        return None
    app = web.Application(client_max_size=max_body_bytes)
    registered: list[tuple[str, str]] = []
    for definition in definitions:
        for path in (definition.path, "/api" + definition.path):
            kwargs = dict(definition.kwargs)
            if path != definition.path:
                kwargs.pop("name", None)  # a route name is unique: the /api copy goes without
            try:
                app.router.add_route(definition.method, path, definition.handler, **kwargs)
            except (RuntimeError, ValueError) as exc:  # a clash between packs: the first one keeps the path
                log.warning("custom route %s %s is not served: %s", definition.method, path, exc)
                continue
            registered.append((definition.method, path))
    folder = tempfile.mkdtemp(prefix="impasto-routes-")  # short: a socket path has at most ~100 bytes
    socket_path = str(Path(folder) / "routes.sock")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    async def start() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.UnixSite(runner, socket_path).start()
        os.chmod(socket_path, 0o600)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    server.app, server.loop = app, loop
    threading.Thread(target=run, name="impasto-pack-routes", daemon=True).start()
    started.wait()
    if failure:
        raise RuntimeError(f"could not serve the custom-node routes: {failure[0]}") from failure[0]
    log.info("serving %d custom-node routes", len(definitions))
    return ServedRoutes(socket_path, registered)
