"""The official overlay and impasto's Queue sidebar side by side: stopping auto-queue and clearing pending tasks
(seed-features.md items 6 and 10), the running and pending lists and "N active" (item 8), the overlay's cancel of
one pending job (item 9), and a server-side repeat that outlives the browser (item 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.pagekit import command, prompts_sent, record, requests_sent, wait_until
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e

MODE = "() => window.app.extensionManager.queueSettings.mode"


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


def queue(server: ServerProcess, prompt: dict[str, Any]) -> str:
    status, body = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 200, body
    return str(body["prompt_id"])


def image(color: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"o{color}"}},
    }


def progress_job(seconds: float, seed: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "SeededProgress", "inputs": {"seed": seed, "seconds": seconds}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def status_of(server: ServerProcess, job_id: str) -> str:
    return str(server.request("GET", f"/api/impasto/jobs/{job_id}")[1]["status"])


def idle(server: ServerProcess) -> bool:
    counts = server.request("GET", "/api/impasto/queue")[1]["counts"]
    return counts["pending"] == 0 and counts["in_progress"] == 0


def choose_mode(page: Page, label: str) -> None:
    page.get_by_test_id("queue-mode-menu-trigger").click()
    page.get_by_role("menuitemradio", name=label, exact=True).click()


def overlay(page: Page):
    return page.get_by_test_id("queue-progress-overlay")


def test_stop_run_instant_then_clear_queue_and_clearing_ends_auto_queue(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    record(page)
    open_frontend(page, expect, server.url)
    pagekit.load(page, pagekit.progress(2.0, 1, "randomize", "clear"))
    field = page.get_by_role("textbox", name="Batch Count")
    field.fill("3")
    field.press("Enter")
    choose_mode(page, "Run (Instant)")
    button = page.get_by_test_id("queue-button")
    button.click()
    page.wait_for_function("() => window.__prompts.length === 3 && window.__prompts.every((p) => p.status === 200)")

    # Stop Run (Instant): the mode only; nothing is interrupted or cleared, nothing more is sent.
    button.click()
    expect(button).to_have_text("Run (Instant)")
    assert requests_sent(page, "/api/interrupt") == [] and requests_sent(page, "/api/queue") == []
    ids = [p["answer"]["prompt_id"] for p in prompts_sent(page)]
    wait_until(lambda: status_of(server, ids[0]) == "in_progress")

    # Clear queue from the overlay header: one request, no dialog, a toast; the running job completes.
    page.get_by_test_id("queue-overlay-toggle").click()
    overlay(page).get_by_role("button", name="Clear queue").click()
    page.wait_for_function("() => window.__requests.some((r) => r.path === '/api/queue')")
    assert requests_sent(page, "/api/queue")[0]["body"] == {"clear": True}
    expect(page.get_by_text("Pending tasks deleted").first).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    for job_id in ids[1:]:
        expect(overlay(page).locator(f"[data-job-id='{job_id}']")).to_have_count(0)
    wait_until(lambda: status_of(server, ids[0]) == "completed")
    page.get_by_test_id("queue-overlay-toggle").click()
    page.wait_for_timeout(1000)
    assert len(prompts_sent(page)) == 3  # after it nothing else runs

    # In Run (Instant), clearing from the "N active" menu also ends the loop (impasto's extension).
    field.fill("2")
    field.press("Enter")
    button.click()  # Run (Instant) again, one job running and one pending
    page.wait_for_function("() => window.__prompts.length === 5 && window.__prompts.every((p) => p.status === 200)")
    looping, queued = (p["answer"]["prompt_id"] for p in prompts_sent(page)[3:])
    wait_until(lambda: status_of(server, looping) == "in_progress")
    page.get_by_test_id("queue-overlay-toggle").click(button="right")
    page.get_by_role("menuitem", name="Clear queue").click()
    page.wait_for_function(f"() => ({MODE})() === 'disabled'")  # the loop is over
    wait_until(lambda: status_of(server, looping) == "completed")
    assert status_of(server, queued) == "cancelled"
    wait_until(lambda: idle(server))
    page.wait_for_timeout(1000)
    assert len(prompts_sent(page)) == 5  # nothing is queued after the running job
    assert_no_unexpected_errors(page_log)


def test_running_and_pending_in_the_sidebar_match_n_active_and_the_overlay(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    open_frontend(page, expect, server.url)
    running = queue(server, progress_job(20.0, 2))
    waiting = [queue(server, image(c)) for c in (1, 2, 3)]
    command(page, "Workspace.ToggleSidebarTab.impasto-queue")
    row = page.get_by_test_id("impasto-queue-running").locator(f"[data-job-id='{running}']")
    expect(row).to_contain_text("SeededProgress")
    shown = row.locator(".impasto-q-node").text_content() or ""
    expect(row.locator(".impasto-q-node")).not_to_have_text(shown)  # step progress advances live
    pending = page.locator("[data-testid=impasto-queue-pending] [data-kind=pending]")
    expect(pending).to_have_count(3)
    positions = pending.evaluate_all(
        "rows => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))"
        ".map((r) => [r.dataset.jobId, r.querySelector('.impasto-q-pos').textContent])"
    )
    assert positions == [[job_id, f"{i}."] for i, job_id in enumerate(waiting, start=1)]
    expect(page.get_by_test_id("queue-overlay-toggle")).to_contain_text("4 active")
    page.get_by_test_id("queue-overlay-toggle").click()
    for job_id in (running, *waiting):
        expect(overlay(page).locator(f"[data-job-id='{job_id}']")).to_be_visible()

    # The overlay's hover X on one pending row cancels it: gone from both panels, never run, no history.
    target = overlay(page).locator(f"[data-job-id='{waiting[1]}']")
    target.hover()
    with page.expect_request(lambda r: r.url.endswith(f"/api/jobs/{waiting[1]}/cancel")):
        target.get_by_role("button", name="Cancel").first.click()
    expect(target).to_have_count(0)
    expect(pending).to_have_count(2)
    expect(page.get_by_test_id("queue-overlay-toggle")).to_contain_text("3 active")
    page.get_by_test_id("queue-overlay-toggle").click()
    assert server.request("POST", "/interrupt", {"prompt_id": running})[0] == 200
    wait_until(lambda: status_of(server, waiting[2]) == "completed")
    assert server.request("GET", f"/history/{waiting[1]}")[1] == {}
    assert status_of(server, waiting[0]) == "completed"
    assert_no_unexpected_errors(page_log)


def test_a_server_side_repeat_runs_on_with_the_browser_closed(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    open_frontend(page, expect, server.url)
    pagekit.load(page, pagekit.seeded(5, "randomize", "outlives"))
    command(page, "Workspace.ToggleSidebarTab.impasto-queue")
    page.get_by_test_id("impasto-queue-repeat").click()
    expect(page.get_by_test_id("impasto-queue-repeats").locator("[data-state=active]")).to_have_count(1)
    (repeat,) = [r for r in server.request("GET", "/api/impasto/repeats")[1]["repeats"] if r["state"] == "active"]
    page.goto("about:blank")  # the browser is gone
    runs = repeat["runs"]
    wait_until(lambda: server.request("GET", f"/api/impasto/repeats/{repeat['repeat_id']}")[1]["runs"] >= runs + 5)

    open_frontend(page, expect, server.url)
    command(page, "Workspace.ToggleSidebarTab.impasto-queue")
    expect(page.get_by_test_id("impasto-queue-repeats").locator("[data-state=active]")).to_have_count(1)
    history = server.request("GET", "/history")[1]
    seeds = [e["prompt"][2]["1"]["inputs"]["seed"] for e in history.values() if "outlives" in str(e["prompt"][2])]
    assert len(seeds) >= 5 and len(set(seeds)) == len(seeds)  # a new seed every run
    page.get_by_test_id("impasto-queue-clear").click()  # Clear pending stops the repeat
    expect(page.get_by_test_id("impasto-queue-repeats").locator("[data-repeat-id]")).to_have_count(0)
    stopped = server.request("GET", f"/api/impasto/repeats/{repeat['repeat_id']}")[1]
    assert (stopped["state"], stopped["stop_reason"]) == ("stopped", "queue_cleared")
    wait_until(lambda: idle(server))
    assert_no_unexpected_errors(page_log)
