"""System, feature, extension, translation, template and /internal endpoints (http-api.md §6.1, §6.4)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from impasto.config import FRONTEND_VERSION, Settings
from impasto.server.errors import error_middleware
from impasto.server.keys import DEVICES, EXTENSION_DIRS, SETTINGS
from impasto.server.logbuffer import LogBuffer
from impasto.server.routes import system
from tests.api.conftest import BOTH, Client, MakeClient, assert_error, raw


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


@pytest.fixture
def pack(tmp_path: Path, extension_dirs: dict[str, Any]) -> Path:
    """A custom node pack `my-pack` whose WEB_DIRECTORY is `web/`, registered in EXTENSION_DIRS."""
    root = tmp_path / "custom_nodes" / "my-pack"
    write(root / "web" / "main.js", "export const a = 1;")
    write(root / "web" / "lib" / "util.js", "export const b = 2;")
    write(root / "web" / "style.css", "body {}")
    write(root / "web" / ".hidden.js", "secret")
    extension_dirs["my-pack"] = root / "web"
    return root


def _app(client: Client) -> web.Application:
    app = client.app
    assert app is not None
    return app


# --- /system_stats and /features ---


@BOTH
async def test_system_stats_has_the_comfyui_shape(plumbing_client: Client, settings: Settings, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/system_stats")
    assert response.status == 200
    stats = await response.json()
    system_info = stats["system"]
    assert set(system_info) == {
        "os",
        "ram_total",
        "ram_free",
        "comfyui_version",
        "required_frontend_version",
        "installed_templates_version",
        "required_templates_version",
        "python_version",
        "pytorch_version",
        "embedded_python",
        "argv",
    }
    assert system_info["os"] == os.name
    assert system_info["comfyui_version"] == settings.emulated_comfyui_version
    assert system_info["required_frontend_version"] == FRONTEND_VERSION == "1.58.1"
    assert system_info["python_version"] == sys.version
    assert system_info["embedded_python"] is False
    assert system_info["argv"] == sys.argv
    assert system_info["installed_templates_version"] is None
    assert stats["devices"] == [
        {
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": 0,
            "vram_free": 0,
            "torch_vram_total": 0,
            "torch_vram_free": 0,
        }
    ]


async def test_system_stats_reads_ram_from_proc_meminfo(plumbing_client: Client) -> None:
    stats = await (await plumbing_client.get("/api/system_stats")).json()
    if not Path("/proc/meminfo").exists():
        assert (stats["system"]["ram_total"], stats["system"]["ram_free"]) == (0, 0)
        return
    assert stats["system"]["ram_total"] > stats["system"]["ram_free"] > 0


async def test_system_stats_reports_the_installed_torch_version(plumbing_client: Client) -> None:
    try:
        expected: str | None = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        expected = None
    stats = await (await plumbing_client.get("/api/system_stats")).json()
    assert stats["system"]["pytorch_version"] == expected


def test_the_plumbing_modules_never_import_torch_or_numpy() -> None:
    code = (
        "import sys; from impasto.config import Settings; "
        "from impasto.server.routes import files, models, system, userdata, users; "
        "system._system(Settings.defaults()); print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_system_stats_lists_the_reported_devices(plumbing_client: Client) -> None:
    gpu = {"name": "cuda:0 NVIDIA", "type": "cuda", "index": 0, "vram_total": 8, "vram_free": 4}
    devices = _app(plumbing_client)[DEVICES]
    devices[:] = [gpu]
    assert (await (await plumbing_client.get("/api/system_stats")).json())["devices"] == [gpu]
    devices.clear()  # never an empty list: at least the CPU
    assert (await (await plumbing_client.get("/api/system_stats")).json())["devices"][0]["type"] == "cpu"


@BOTH
async def test_features_advertise_previews_upload_size_and_api_version(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/features")
    assert await response.json() == {
        "supports_preview_metadata": True,
        "max_upload_size": 104857600,
        "impasto_api_version": 1,
    }


async def test_features_follow_the_upload_size_setting(make_plumbing_client: MakeClient) -> None:
    client = await make_plumbing_client(max_upload_size_mb=2)
    assert (await (await client.get("/features")).json())["max_upload_size"] == 2 * 1024 * 1024


# --- /extensions and the extension files ---


@BOTH
async def test_extensions_is_an_empty_list_without_packs(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/extensions")
    assert response.status == 200
    assert await response.json() == []


@BOTH
async def test_extensions_lists_every_script_of_every_pack(plumbing_client: Client, pack: Path, prefix: str) -> None:
    assert await (await plumbing_client.get(f"{prefix}/extensions")).json() == [
        "/extensions/my-pack/main.js",
        "/extensions/my-pack/lib/util.js",
    ]


async def test_extensions_quotes_names_and_leaves_out_links_outside(
    plumbing_client: Client, pack: Path, outside: Path, extension_dirs: dict[str, Any]
) -> None:
    write(outside / "evil.js", "alert(1)")
    (pack / "web" / "evil.js").symlink_to(outside / "evil.js")
    web_dir = write(pack.parent / "two words" / "js" / "a b.js", "x").parent
    extension_dirs["two words"] = str(web_dir)  # a str works as well as a Path
    urls = await (await plumbing_client.get("/api/extensions")).json()
    assert "/extensions/two%20words/a%20b.js" in urls
    assert not any("evil" in url for url in urls)


async def test_extension_files_are_served_at_the_bare_path_only(plumbing_client: Client, pack: Path) -> None:
    response = await plumbing_client.get("/extensions/my-pack/lib/util.js")
    assert response.status == 200
    assert await response.text() == "export const b = 2;"
    assert "javascript" in response.content_type
    assert (await plumbing_client.get("/api/extensions/my-pack/lib/util.js")).status == 404


async def test_every_listed_script_is_served(plumbing_client: Client, pack: Path) -> None:
    for url in await (await plumbing_client.get("/api/extensions")).json():
        assert (await raw(plumbing_client, "GET", url)).status == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/extensions/other-pack/main.js", 404),
        ("/extensions/my-pack/missing.js", 404),
        ("/extensions/my-pack/lib", 404),
        ("/extensions/my-pack/../../../secret.txt", 403),
        ("/extensions/my-pack/..%2F..%2F..%2Fsecret.txt", 403),
        ("/extensions/my-pack/%2Fetc%2Fpasswd", 403),
        ("/extensions/my-pack/evil.js", 403),
        ("/extensions/my-pack/a%00b.js", 400),
    ],
)
async def test_extension_files_outside_the_pack_are_refused(
    plumbing_client: Client, pack: Path, outside: Path, path: str, status: int
) -> None:
    (pack / "web" / "evil.js").symlink_to(outside / "secret.txt")
    response = await raw(plumbing_client, "GET", path)
    body = await assert_error(response, status)
    assert "top secret" not in json.dumps(body)


async def test_the_frontends_core_extensions_are_not_shadowed(
    aiohttp_client: AiohttpClient, settings: Settings, tmp_path: Path
) -> None:
    # /extensions/core/ belongs to the frontend's static files, registered after the API routes.
    static = tmp_path / "static"
    write(static / "extensions" / "core" / "groupNode.js", "// core")
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[EXTENSION_DIRS] = {"core": static}  # even a pack named core does not take the path over
    system.setup(app)
    app.router.add_static("/", static)
    client = await aiohttp_client(app)
    response = await client.get("/extensions/core/groupNode.js")
    assert response.status == 200
    assert await response.text() == "// core"


# --- /i18n and /workflow_templates ---


@BOTH
async def test_i18n_is_empty_without_packs(plumbing_client: Client, prefix: str) -> None:
    assert await (await plumbing_client.get(f"{prefix}/i18n")).json() == {}


async def test_i18n_merges_the_locale_files_of_every_pack(
    plumbing_client: Client, pack: Path, tmp_path: Path, extension_dirs: dict[str, Any]
) -> None:
    locales = pack / "locales"
    write(locales / "en" / "main.json", json.dumps({"title": "Pack", "menu": {"a": "A"}}))
    write(locales / "en" / "nodeDefs.json", json.dumps({"MyNode": {"display_name": "My node"}}))
    write(locales / "en" / "commands.json", json.dumps({"run": "Run"}))
    write(locales / "en" / "other.json", json.dumps({"ignored": True}))
    write(locales / "fr" / "settings.json", json.dumps({"s": "Réglage"}))
    write(locales / "de" / "main.json", "{ broken")
    second = tmp_path / "custom_nodes" / "second"
    write(second / "locales" / "en" / "main.json", json.dumps({"menu": {"b": "B"}}))
    extension_dirs["second"] = second / "web"
    assert await (await plumbing_client.get("/api/i18n")).json() == {
        "en": {
            "title": "Pack",
            "menu": {"a": "A", "b": "B"},
            "nodeDefs": {"MyNode": {"display_name": "My node"}},
            "commands": {"run": "Run"},
        },
        "fr": {"settings": {"s": "Réglage"}},
    }


@BOTH
async def test_workflow_templates_is_empty_without_packs(plumbing_client: Client, prefix: str) -> None:
    assert await (await plumbing_client.get(f"{prefix}/workflow_templates")).json() == {}


async def test_workflow_templates_lists_each_packs_examples(plumbing_client: Client, pack: Path) -> None:
    write(pack / "example_workflows" / "basic.json", "{}")
    write(pack / "example_workflows" / "upscale.json", "{}")
    write(pack / "example_workflows" / "notes.txt", "x")
    write(pack / "examples" / "ignored.json", "{}")  # only the first folder that exists counts
    assert await (await plumbing_client.get("/api/workflow_templates")).json() == {"my-pack": ["basic", "upscale"]}


@pytest.mark.parametrize("folder", ["example", "examples", "workflow", "workflows"])
async def test_workflow_templates_accepts_the_other_folder_names(
    plumbing_client: Client, pack: Path, folder: str
) -> None:
    write(pack / folder / "flow.json", "{}")
    assert await (await plumbing_client.get("/workflow_templates")).json() == {"my-pack": ["flow"]}


async def test_workflow_template_files_are_served_under_api_only(plumbing_client: Client, pack: Path) -> None:
    write(pack / "example_workflows" / "basic.json", '{"nodes": []}')
    response = await plumbing_client.get("/api/workflow_templates/my-pack/basic.json")
    assert response.status == 200
    assert await response.json() == {"nodes": []}
    assert (await plumbing_client.get("/workflow_templates/my-pack/basic.json")).status == 404
    await assert_error(await plumbing_client.get("/api/workflow_templates/my-pack/none.json"), 404)
    await assert_error(await plumbing_client.get("/api/workflow_templates/nope/basic.json"), 404)
    await assert_error(await raw(plumbing_client, "GET", "/api/workflow_templates/my-pack/..%2Fweb%2Fmain.js"), 403)


# --- /internal ---


async def test_internal_logs_return_the_recent_log_as_text(plumbing_client: Client) -> None:
    logging.getLogger("impasto.test.logs").warning("hello from the test")
    response = await plumbing_client.get("/internal/logs")
    assert response.status == 200
    text = await response.json()
    assert isinstance(text, str)
    assert text.splitlines()[-1].endswith(" - hello from the test")


async def test_internal_logs_raw_returns_entries_and_terminal_size(plumbing_client: Client) -> None:
    logging.getLogger("impasto.test.logs").error("raw entry")
    body = await (await plumbing_client.get("/internal/logs/raw")).json()
    assert body["entries"][-1]["m"] == "raw entry"
    assert "T" in body["entries"][-1]["t"]
    assert set(body["size"]) == {"cols", "rows"}
    assert all(isinstance(v, int) and v > 0 for v in body["size"].values())


async def test_the_log_buffer_is_removed_when_the_app_stops(make_plumbing_client: MakeClient) -> None:
    client = await make_plumbing_client()
    buffer = _app(client)[system.LOG_BUFFER]
    assert buffer in logging.getLogger().handlers
    await client.close()
    assert buffer not in logging.getLogger().handlers


def test_the_log_buffer_keeps_only_the_last_records() -> None:
    buffer = LogBuffer(capacity=3)
    logger = logging.getLogger("impasto.test.ring")
    logger.propagate = False
    buffer.install(logger)
    buffer.install(logger)  # once only
    try:
        for i in range(5):
            logger.warning("line %d", i)
    finally:
        buffer.remove(logger)
        logger.propagate = True
    assert [e["m"] for e in buffer.entries()] == ["line 2", "line 3", "line 4"]
    assert buffer.text().splitlines()[0].endswith(" - line 2")


async def test_log_subscriptions_are_recorded(plumbing_client: Client) -> None:
    subscribers = _app(plumbing_client)[system.LOG_SUBSCRIBERS]
    response = await plumbing_client.patch("/internal/logs/subscribe", json={"clientId": "abc", "enabled": True})
    assert response.status == 200
    assert subscribers == {"abc"}
    await plumbing_client.patch("/internal/logs/subscribe", json={"clientId": "abc", "enabled": False})
    await plumbing_client.patch("/internal/logs/subscribe", json={"clientId": "never", "enabled": False})
    assert subscribers == set()


@pytest.mark.parametrize(
    "body",
    [b"{oops", b"[]", b'{"clientId": "a"}', b'{"clientId": 1, "enabled": true}', b'{"clientId": "a", "enabled": 1}'],
)
async def test_a_bad_subscription_body_is_a_400(plumbing_client: Client, body: bytes) -> None:
    await assert_error(await plumbing_client.patch("/internal/logs/subscribe", data=body), 400)


async def test_internal_folder_paths_maps_every_folder(plumbing_client: Client, settings: Settings) -> None:
    paths = await (await plumbing_client.get("/internal/folder_paths")).json()
    assert paths["checkpoints"] == [str(settings.folders.models / "checkpoints")]
    assert paths["custom_nodes"] == [str(p) for p in settings.folders.custom_nodes]
    assert set(settings.folders.model_folders) <= set(paths)


async def test_internal_files_lists_newest_first(plumbing_client: Client, settings: Settings) -> None:
    folder = settings.folders.input
    for i, name in enumerate(["old.png", "mid.png", "new.png"]):
        write(folder / name, b"x")
        os.utime(folder / name, (1_000_000 + i, 1_000_000 + i))
    (folder / "subdir").mkdir()
    assert await (await plumbing_client.get("/internal/files/input")).json() == ["new.png", "mid.png", "old.png"]
    assert await (await plumbing_client.get("/internal/files/temp")).json() == []


async def test_internal_files_of_another_type_is_a_400(plumbing_client: Client) -> None:
    body = await assert_error(await plumbing_client.get("/internal/files/models"), 400)
    assert body == {"error": "Invalid directory type"}


@pytest.mark.parametrize(
    "path",
    ["/internal/logs", "/internal/logs/raw", "/internal/folder_paths", "/internal/files/input"],
)
async def test_internal_routes_are_not_aliased_under_api(plumbing_client: Client, path: str) -> None:
    assert (await plumbing_client.get(path)).status == 200
    assert (await plumbing_client.get("/api" + path)).status == 404
    assert (await plumbing_client.patch("/api/internal/logs/subscribe", json={})).status == 404
