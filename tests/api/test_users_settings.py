"""GET/POST /users, /settings and /settings/{id} in single-user mode (http-api.md §6.1-6.2)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest

from impasto.config import Settings
from tests.api.conftest import BOTH, Client, MakeClient, assert_error


def settings_file(settings: Settings) -> Path:
    return settings.folders.user / "default" / "comfy.settings.json"


async def test_setup_creates_the_user_directory(plumbing_client: Client, settings: Settings) -> None:
    assert (settings.folders.user / "default").is_dir()


@BOTH
async def test_users_reports_server_storage_already_migrated(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/users")
    assert response.status == 200
    assert await response.json() == {"storage": "server", "migrated": True}


@BOTH
async def test_users_reports_not_migrated_when_the_directory_is_gone(
    plumbing_client: Client, settings: Settings, prefix: str
) -> None:
    (settings.folders.user / "default").rmdir()
    response = await plumbing_client.get(f"{prefix}/users")
    assert await response.json() == {"storage": "server", "migrated": False}


@BOTH
async def test_creating_a_user_is_refused_in_single_user_mode(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.post(f"{prefix}/users", json={"username": "alice"})
    body = await assert_error(response, 400)
    assert body["error"] == "multi-user mode is disabled"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"username": 3}', b"\xff\xfe"])
async def test_creating_a_user_with_a_bad_body_is_a_400(plumbing_client: Client, body: bytes) -> None:
    await assert_error(await plumbing_client.post("/api/users", data=body), 400)


@BOTH
async def test_settings_are_empty_when_nothing_is_stored(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/settings")
    assert response.status == 200
    assert await response.json() == {}


@BOTH
async def test_posted_settings_are_merged_and_stored(plumbing_client: Client, settings: Settings, prefix: str) -> None:
    first = await plumbing_client.post(f"{prefix}/settings", json={"a": 1, "b": {"x": True}})
    assert first.status == 200
    assert await first.read() == b""
    await plumbing_client.post(f"{prefix}/settings", json={"b": 2, "c": "three"})

    response = await plumbing_client.get(f"{prefix}/settings")
    assert await response.json() == {"a": 1, "b": 2, "c": "three"}
    assert json.loads(settings_file(settings).read_text()) == {"a": 1, "b": 2, "c": "three"}


@BOTH
@pytest.mark.parametrize("value", [5, "text", None, [1, 2], {"nested": {"k": 1}}, False])
async def test_one_setting_round_trips_any_json_value(plumbing_client: Client, prefix: str, value: object) -> None:
    path = f"{prefix}/settings/Comfy.QueueButton.BatchCountLimit"
    stored = await plumbing_client.post(path, data=json.dumps(value))  # json=None would send no body
    assert stored.status == 200
    assert await stored.read() == b""
    response = await plumbing_client.get(f"{prefix}/settings/Comfy.QueueButton.BatchCountLimit")
    assert response.status == 200
    assert await response.json() == value


@BOTH
async def test_an_unset_setting_is_null(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/settings/Comfy.Nothing")
    assert response.status == 200
    assert await response.json() is None


async def test_setting_one_value_keeps_the_others(plumbing_client: Client, settings: Settings) -> None:
    await plumbing_client.post("/api/settings", json={"keep": 1})
    await plumbing_client.post("/api/settings/Comfy.Queue.History.Expanded", json=True)
    assert json.loads(settings_file(settings).read_text()) == {"keep": 1, "Comfy.Queue.History.Expanded": True}


@pytest.mark.parametrize("body", [b"{oops", b"[1]", b'"a string"', b"\xff"])
async def test_posting_settings_that_are_not_a_json_object_is_a_400(
    plumbing_client: Client, settings: Settings, body: bytes
) -> None:
    await plumbing_client.post("/api/settings", json={"kept": True})
    await assert_error(await plumbing_client.post("/api/settings", data=body), 400)
    assert json.loads(settings_file(settings).read_text()) == {"kept": True}


@pytest.mark.parametrize("body", [b"", b"{oops", b"\xff"])
async def test_posting_one_setting_that_is_not_json_is_a_400(
    plumbing_client: Client, settings: Settings, body: bytes
) -> None:
    await assert_error(await plumbing_client.post("/api/settings/x", data=body), 400)
    assert not settings_file(settings).exists()


async def test_an_oversized_settings_body_is_a_413(plumbing_client: Client, settings: Settings) -> None:
    # The app's client_max_size (aiohttp's default, 1 MiB) bounds JSON bodies.
    huge = io.BytesIO(json.dumps({"big": "x" * (2 * 1024 * 1024)}).encode())
    await assert_error(await plumbing_client.post("/api/settings", data=huge), 413)
    assert not settings_file(settings).exists()


async def test_a_corrupt_settings_file_reads_as_empty_and_is_logged(
    plumbing_client: Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings_file(settings).write_text("{ this is not json")
    with caplog.at_level(logging.ERROR, logger="impasto.server.routes.users"):
        response = await plumbing_client.get("/api/settings")
    assert response.status == 200
    assert await response.json() == {}
    assert "corrupt" in caplog.text


async def test_a_settings_file_holding_a_list_reads_as_empty(plumbing_client: Client, settings: Settings) -> None:
    settings_file(settings).write_text("[1, 2, 3]")
    assert await (await plumbing_client.get("/api/settings")).json() == {}
    assert await (await plumbing_client.get("/api/settings/0")).json() is None


async def test_writing_replaces_a_corrupt_file_with_valid_json(plumbing_client: Client, settings: Settings) -> None:
    settings_file(settings).write_bytes(b"\x00\x01garbage")
    assert (await plumbing_client.post("/api/settings/a", json=1)).status == 200
    assert json.loads(settings_file(settings).read_text()) == {"a": 1}


async def test_writes_leave_no_temporary_files(plumbing_client: Client, settings: Settings) -> None:
    for i in range(5):
        await plumbing_client.post(f"/api/settings/k{i}", json=i)
    assert [p.name for p in (settings.folders.user / "default").iterdir()] == ["comfy.settings.json"]


async def test_concurrent_single_writes_all_survive(plumbing_client: Client) -> None:
    await asyncio.gather(*(plumbing_client.post(f"/api/settings/key{i}", json=i) for i in range(20)))
    stored = await (await plumbing_client.get("/api/settings")).json()
    assert stored == {f"key{i}": i for i in range(20)}


async def test_the_comfy_user_header_is_ignored(plumbing_client: Client) -> None:
    await plumbing_client.post("/api/settings/a", json=1, headers={"Comfy-User": "someone_else"})
    response = await plumbing_client.get("/api/settings", headers={"Comfy-User": "another"})
    assert await response.json() == {"a": 1}


async def test_the_settings_live_under_the_configured_user_folder(
    make_plumbing_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_plumbing_client()
    await client.post("/settings/where", json="here")
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["user/default/comfy.settings.json"]
