"""Fixtures for the plumbing routes: settings on tmp_path and a client over real loopback sockets."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from PIL import Image
from pytest_aiohttp import AiohttpClient
from yarl import URL

from impasto.config import Settings
from impasto.paths import Folders
from impasto.server.errors import error_middleware
from impasto.server.keys import EXTENSION_DIRS, SETTINGS
from impasto.server.routes import files, models, system, userdata, users

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

# Every route in §5-§6 except /internal is served at both paths.
BOTH = pytest.mark.parametrize("prefix", ["", "/api"], ids=["bare", "api"])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(folders=Folders.from_base(tmp_path))


@pytest.fixture
def extension_dirs() -> dict[str, Any]:
    """The app's EXTENSION_DIRS; tests add packs to it (it is read on every request)."""
    return {}


@pytest.fixture
def make_plumbing_client(
    aiohttp_client: AiohttpClient, settings: Settings, extension_dirs: dict[str, Any]
) -> MakeClient:
    """Builds the app with every plumbing module; keyword arguments replace fields of `settings`."""

    async def make(**changes: Any) -> Client:
        app = web.Application(middlewares=[error_middleware])
        app[SETTINGS] = dataclasses.replace(settings, **changes)
        app[EXTENSION_DIRS] = extension_dirs
        for module in (users, userdata, files, models, system):
            module.setup(app)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def plumbing_client(make_plumbing_client: MakeClient) -> Client:
    return await make_plumbing_client()


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside every configured folder, with one file in it; tests assert it stays untouched."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text("top secret")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below `folder` (links not followed) with a hash of its content."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


async def raw(client: Client, method: str, path: str, **kwargs: Any) -> ClientResponse:
    """A request whose path is sent exactly as written: no dot-segment removal, no re-quoting."""
    url = URL(f"http://{client.host}:{client.port}{path}", encoded=True)
    return await client.session.request(method, url, **kwargs)


async def assert_error(response: ClientResponse, status: int) -> dict[str, Any]:
    """The response has `status` and a JSON body with an `error` reason."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str) and body["error"]
    return body


def png_bytes(size: tuple[int, int] = (4, 3), color: Any = (10, 20, 30, 128), mode: str = "RGBA", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img
