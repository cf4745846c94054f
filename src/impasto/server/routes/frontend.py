"""The official frontend, served unchanged (http-api.md §6.1, frontend.md §1). Registered last, so static
files never shadow an API route. A path that names no file is a JSON 404 like every other miss.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from aiohttp import web

from impasto.server.keys import SETTINGS
from impasto.server.static import STATIC_ROUTE, contained_file

NO_CACHE = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "0"}


def frontend_root(configured: Path | None) -> Path | None:
    """`--front-end-root`, else the installed comfyui-frontend-package's static folder."""
    if configured is not None:
        return configured
    spec = importlib.util.find_spec("comfyui_frontend_package")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "static"


def setup(app: web.Application) -> None:
    root = frontend_root(app[SETTINGS].front_end_root)
    if root is None or not (root / "index.html").is_file():
        return

    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(root / "index.html", headers=NO_CACHE)

    async def static_file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(await asyncio.to_thread(contained_file, root, request.match_info["path"]))

    app.router.add_get("/", index)
    app.router.add_get("/{path:.+}", static_file, name=STATIC_ROUTE)
