"""Run & Stop features of the official frontend against impasto (seed-features.md items 6 and 7)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_clearing_pending_tasks_ends_run_instant_and_run_on_change(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    assert e2e_server.request("POST", "/api/impasto/queue/pause")[0] == 200
    held = e2e_server.request(
        "POST", "/prompt", {"prompt": {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 100000}}}}
    )
    assert held[0] == 200
    settings = "window.app.extensionManager.queueSettings"
    for mode in ("instant-running", "change"):
        page.evaluate(f"mode => {{ {settings}.mode = mode }}", mode)
        page.evaluate("() => window.app.extensionManager.command.execute('Comfy.ClearPendingTasks')")
        page.wait_for_function(f"() => {settings}.mode === 'disabled'")  # auto-queue ends with the clear
    job = e2e_server.request("GET", f"/api/impasto/jobs/{held[1]['prompt_id']}")[1]
    assert job["stop_reason"] == "removed"  # the clear itself went through
    page.evaluate(f"() => {{ {settings}.mode = 'instant-idle' }}")
    page.evaluate("() => window.comfyAPI.api.api.clearItems('history')")  # other clears leave the mode alone
    assert page.evaluate(f"() => {settings}.mode") == "instant-idle"
    page.evaluate(f"() => {{ {settings}.mode = 'disabled' }}")
    assert e2e_server.request("POST", "/api/impasto/queue/resume")[0] == 200
    assert_no_unexpected_errors(page_log)


def test_ctrl_alt_enter_interrupts_the_running_job_promptly(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    workflow = {
        "last_node_id": 1,
        "last_link_id": 0,
        "nodes": [
            {
                "id": 1,
                "type": "TenMsProgress",
                "pos": [100, 100],
                "size": [315, 58],
                "flags": {},
                "order": 0,
                "mode": 0,
                "inputs": [],
                "outputs": [],
                "properties": {},
                "widgets_values": [100000],
            }
        ],
        "links": [],
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }
    page.evaluate("workflow => window.app.loadGraphData(workflow)", workflow)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/prompt") as queued:
        page.get_by_test_id("queue-button").click()
    prompt_id = queued.value.json()["prompt_id"]
    wait_until(lambda: e2e_server.request("GET", "/api/impasto/queue")[1]["running"])
    time.sleep(0.5)
    page.evaluate("() => document.activeElement?.blur()")
    page.keyboard.press("Control+Alt+Enter")
    started = time.monotonic()
    wait_until(lambda: e2e_server.request("GET", f"/history/{prompt_id}")[1], timeout=10)
    assert time.monotonic() - started < 5.0  # a node reporting progress stops at its next report
    entry = e2e_server.request("GET", f"/history/{prompt_id}")[1][prompt_id]
    assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    assert_no_unexpected_errors(page_log)
