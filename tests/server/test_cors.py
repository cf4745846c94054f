"""--enable-cors-header: CORS headers and preflights instead of the loopback origin guard (http-api.md §1.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from impasto.config import Settings
from impasto.paths import Folders


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(folders=Folders.from_base(tmp_path), enable_cors_header="http://app.example")


async def test_cors_headers_and_preflight(client):
    preflight = await client.options("/api/prompt", headers={"Origin": "http://app.example"})
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.get("/prompt", headers={"Origin": "http://app.example", "Host": "127.0.0.1:8188"})
    assert response.status == 200  # the origin guard is off when CORS is on
    assert response.headers["Access-Control-Allow-Origin"] == "http://app.example"
