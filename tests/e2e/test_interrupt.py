"""The X button and Ctrl+Alt+Enter interrupt the running job of the official frontend on impasto, whatever the
node does: report progress (F3), call torch modules (F4) or never yield (F5) (seed-features.md item 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.pagekit import command, messages, record, requests_sent, sockets_opened, wait_until
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e

GRACE_S = 5.0  # the default interrupt grace


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


def image_job(server: ServerProcess, color: int) -> str:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"after-x-{color}"}},
    }
    status, body = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 200, body
    return str(body["prompt_id"])


def worker(server: ServerProcess) -> dict[str, Any]:
    workers: list[dict[str, Any]] = server.request("GET", "/api/impasto/queue")[1]["workers"]
    return workers[0]


def cancel_button(page: Page):
    return page.get_by_role("button", name="Cancel current run")


def start(page: Page, server: ServerProcess, workflow: dict[str, Any]) -> str:
    """Runs `workflow` from the page and waits until the page has seen it start; its prompt id."""
    pagekit.load(page, workflow)
    before = len(pagekit.prompts_sent(page))
    page.get_by_test_id("queue-button").click()
    page.wait_for_function("n => window.__prompts.length > n && window.__prompts[n].status === 200", arg=before)
    prompt_id = str(pagekit.prompts_sent(page)[before]["answer"]["prompt_id"])
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'execution_start' && m.data.prompt_id === id)", arg=prompt_id
    )
    return prompt_id


WORKLOADS = {
    "progress": (pagekit.progress(20.0, 1, "fixed", "x-progress"), False),
    "torch": (pagekit.torch_loop(10**9), False),
    "never-yields": (pagekit.stuck(60.0), True),
}


@pytest.mark.parametrize(
    ("workload", "how"),
    [("progress", "click"), ("progress", "key"), ("torch", "click"), ("never-yields", "click")],
)
def test_interrupt_stops_the_running_job_and_the_next_one_runs(
    page, expect: Expect, page_log, e2e_server, workload, how
):
    workflow, escalates = WORKLOADS[workload]
    record(page)
    open_frontend(page, expect, e2e_server.url)
    before = worker(e2e_server)
    running = start(page, e2e_server, workflow)
    waiting = image_job(e2e_server, 40 + len(workload))
    expect(cancel_button(page)).to_be_enabled()
    page.wait_for_timeout(2000)

    if how == "click":
        cancel_button(page).click()
    else:
        page.evaluate("() => document.activeElement?.blur()")
        page.keyboard.press("Control+Alt+Enter")
    page.wait_for_function("() => window.__requests.some((r) => r.path === '/api/interrupt')")
    (request,) = requests_sent(page, "/api/interrupt")
    assert request["body"] == {"prompt_id": running}
    expect(page.get_by_text("Interrupted", exact=True).first).to_be_visible()

    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'execution_interrupted' && m.data.prompt_id === id)",
        arg=running,
        timeout=int((GRACE_S + 30) * 1000),
    )
    stopped = next(m["at"] for m in messages(page, running) if m["type"] == "execution_interrupted")
    latency_ms = stopped - request["at"]
    if escalates:  # the worker is killed after the grace period and replaced
        assert latency_ms < (GRACE_S + 2) * 1000 + 3000  # bound: grace + 2 s; margin for a noisy machine
        after = wait_until(lambda: (w := worker(e2e_server))["pid"] != before["pid"] and w)
        assert after["restarts"] == before["restarts"] + 1
    else:  # cooperative: the node stops at its next interrupt point
        assert latency_ms < 1000  # bound: 100 ms; margin for a noisy machine
        assert worker(e2e_server)["pid"] == before["pid"]
    assert e2e_server.process is not None and e2e_server.process.poll() is None  # the server kept running

    # The pending job runs next, the page never reconnected, X is disabled again.
    wait_until(lambda: e2e_server.request("GET", f"/api/jobs/{waiting}")[1]["status"] == "completed")
    expect(cancel_button(page)).to_be_disabled()
    assert sockets_opened(page) == 1
    job = e2e_server.request("GET", f"/api/jobs/{running}")[1]
    assert job["status"] == "cancelled"

    # The overlay lists it (1.58.1 files cancelled jobs under its Failed tab; it has no Cancelled tab), and the
    # Queue sidebar shows it as cancelled.
    page.get_by_test_id("queue-overlay-toggle").click()
    expect(page.get_by_test_id("queue-progress-overlay").locator(f"[data-job-id='{running}']")).to_be_visible()
    page.get_by_test_id("queue-overlay-toggle").click()
    command(page, "Workspace.ToggleSidebarTab.impasto-queue")
    history = page.get_by_test_id("impasto-queue-history")
    expect(history.locator(f"[data-job-id='{running}']")).to_have_attribute("data-status", "cancelled")
    command(page, "Workspace.ToggleSidebarTab.impasto-queue")

    # A new Run works normally.
    again = start(page, e2e_server, pagekit.seeded(3, "fixed", f"after-{workload}"))
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'execution_success' && m.data.prompt_id === id)", arg=again
    )
    assert_no_unexpected_errors(page_log)
