"""HTTP routes that a custom-node pack adds through `PromptServer.instance.routes`, served by the node host
through a real server process (execution.md §1, node-api.md §4.7)."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from tests.support.server_process import ServerProcess

PACK = """
import os

from aiohttp import web
from server import PromptServer

routes = PromptServer.instance.routes


@routes.get("/greeting/{name}")
async def greet(request):
    return web.json_response({"hello": request.match_info["name"], "pid": os.getpid(),
                              "query": dict(request.query), "same_app": request.app is PromptServer.instance.app})


@routes.post("/greeting/echo")
async def echo(request):
    body = await request.read()
    return web.Response(body=body[::-1], content_type="application/octet-stream", headers={"X-Pack": "yes"})


@routes.get("/prompt")
async def shadow(request):  # impasto's own route wins over a pack's
    return web.json_response({"shadowed": True})


@routes.get("/greeting/fail")
async def fail(request):
    raise web.HTTPForbidden(text="no")


NODE_CLASS_MAPPINGS = {}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("pack-routes")
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / "greeter.py").write_text(PACK)
    running = ServerProcess(base).start()
    yield running
    running.stop()


def raw(server: ServerProcess, method: str, path: str, data: bytes | None = None, **headers: str):
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_pack_route_is_served_at_both_paths_from_the_node_host(server):
    assert server.process is not None
    for path in ("/greeting/ada?x=1", "/api/greeting/ada?x=1"):
        status, body = server.request("GET", path)
        assert status == 200, body
        assert body["hello"] == "ada" and body["query"] == {"x": "1"} and body["same_app"] is True
        assert body["pid"] not in (server.process.pid, os.getpid())  # node code runs in the node host


def test_bodies_status_codes_and_headers_pass_through(server):
    status, headers, body = raw(server, "POST", "/greeting/echo", b"abc", **{"Content-Type": "text/plain"})
    assert (status, body, headers["X-Pack"]) == (200, b"cba", "yes")
    status, _headers, body = raw(server, "GET", "/greeting/fail")
    assert (status, body) == (403, b"no")


def test_impasto_routes_are_never_shadowed_and_unknown_paths_stay_404(server):
    status, body = server.request("GET", "/prompt")
    assert status == 200 and "exec_info" in body
    status, _headers, payload = raw(server, "GET", "/greeting")
    assert status == 404 and json.loads(payload) == {"error": "file not found"}


def test_a_cross_origin_request_to_a_pack_route_is_refused(server):
    status, _headers, body = raw(server, "POST", "/greeting/echo", b"x", Origin="http://evil.example")
    assert status == 403 and json.loads(body) == {"error": "cross-origin request refused"}
