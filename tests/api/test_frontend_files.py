"""The frontend's static files: served from its folder, never from outside it, and a JSON 404 for a miss."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from impasto.config import Settings
from impasto.server.errors import error_middleware
from impasto.server.keys import SETTINGS
from impasto.server.routes import frontend
from tests.api.conftest import assert_error, raw


async def test_files_inside_the_frontend_folder_only(
    aiohttp_client: AiohttpClient, settings: Settings, tmp_path: Path
) -> None:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<html>index</html>")
    (static / "assets" / "app.js").write_text("// app")
    (tmp_path / "secret.txt").write_text("top secret")
    (static / "assets" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = dataclasses.replace(settings, front_end_root=static)
    frontend.setup(app)
    client = await aiohttp_client(app)
    assert await (await client.get("/")).text() == "<html>index</html>"
    served = await client.get("/assets/app.js")
    assert served.status == 200 and await served.text() == "// app"
    await assert_error(await client.get("/assets/missing.js"), 404)
    await assert_error(await client.post("/assets/app.js"), 405)
    for path, status in [("/assets/leak.txt", 403), ("/assets/../../secret.txt", 403), ("/%2e%2e/secret.txt", 403)]:
        body = await assert_error(await raw(client, "GET", path), status)
        assert "top secret" not in str(body)
