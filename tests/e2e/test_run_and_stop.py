"""Clearing pending tasks ends the frontend's auto-queue modes (seed-features.md item 6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


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
