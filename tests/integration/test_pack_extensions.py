"""A pack's WEB_DIRECTORY is served under /extensions/<pack>/ and listed by /extensions, through a real server
whose node host loaded the pack (node-api.md §4); its translations and example workflows come with it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.server_process import ServerProcess

PACK = """
WEB_DIRECTORY = "./js"
NODE_CLASS_MAPPINGS = {}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("pack-extensions")
    pack = base / "custom_nodes" / "painter"
    (pack / "js" / "widgets").mkdir(parents=True)
    (pack / "__init__.py").write_text(PACK)
    (pack / "js" / "painter.js").write_text("export const painter = 1;\n")
    (pack / "js" / "widgets" / "brush.js").write_text("export const brush = 2;\n")
    (pack / "locales" / "en").mkdir(parents=True)
    (pack / "locales" / "en" / "main.json").write_text(json.dumps({"painter": {"title": "Painter"}}))
    (pack / "example_workflows").mkdir()
    (pack / "example_workflows" / "portrait.json").write_text(json.dumps({"nodes": [], "links": []}))
    # A pack named like impasto's own extension: impasto's folder keeps the name.
    clash = base / "custom_nodes" / "impasto"
    (clash / "js").mkdir(parents=True)
    (clash / "__init__.py").write_text(PACK)
    (clash / "js" / "evil.js").write_text("alert(1);\n")
    running = ServerProcess(base).start()
    yield running
    running.stop()


def fetch(server: ServerProcess, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_packs_scripts_are_listed_and_served(server):
    status, listed = server.request("GET", "/extensions")
    assert status == 200
    assert "/extensions/painter/painter.js" in listed and "/extensions/painter/widgets/brush.js" in listed
    assert fetch(server, "/extensions/painter/widgets/brush.js") == (200, b"export const brush = 2;\n")
    assert fetch(server, "/extensions/painter/../painter/__init__.py")[0] == 403  # outside the folder


def test_impasto_keeps_its_own_extension_name(server):
    listed = server.request("GET", "/extensions")[1]
    assert "/extensions/impasto/queue.js" in listed and "/extensions/impasto/evil.js" not in listed
    assert fetch(server, "/extensions/impasto/evil.js")[0] == 404


def test_the_packs_translations_and_example_workflows_come_along(server):
    assert server.request("GET", "/i18n")[1]["en"]["painter"] == {"title": "Painter"}
    assert server.request("GET", "/api/workflow_templates")[1] == {"painter": ["portrait"]}
    assert json.loads(fetch(server, "/api/workflow_templates/painter/portrait.json")[1]) == {"nodes": [], "links": []}
