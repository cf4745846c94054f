"""The page after a server crash, after a reload, and in a second browser (seed-features.md items 14 and 15)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.conftest import CHROMIUM_ARGS, VIEWPORT
from tests.e2e.pagekit import command, messages, record, wait_until
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, which its tests kill and restart."""
    from tests.support import seed_nodes, stop_nodes

    base = tmp_path_factory.mktemp("restart-base")
    stop_nodes.install(base)
    seed_nodes.install(base)
    server = ServerProcess(base).start()
    try:
        assert server.request("POST", "/api/settings/Comfy.TutorialCompleted", True)[0] == 200
        yield server
    finally:
        server.stop()


def queue(server: ServerProcess, prompt: dict[str, Any]) -> str:
    status, body = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 200, body
    return str(body["prompt_id"])


def image(color: int, output: str = "SaveImage") -> dict[str, Any]:
    save: dict[str, Any] = {"images": ["1", 0]}
    if output == "SaveImage":
        save["filename_prefix"] = f"r{color}"
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 24, "height": 24, "batch_size": 1, "color": color}},
        "2": {"class_type": output, "inputs": save},
    }


def long_job(seed: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "SeededProgress", "inputs": {"seed": seed, "seconds": 600.0}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def job(server: ServerProcess, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = server.request("GET", f"/api/impasto/jobs/{job_id}")[1]
    return body


def open_sidebar(page: Page) -> None:
    command(page, "Workspace.ToggleSidebarTab.impasto-queue")


def pending_order(page: Page) -> list[str]:
    ids: list[str] = page.locator("[data-testid=impasto-queue-pending] [data-kind=pending]").evaluate_all(
        "rows => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map(r => r.dataset.jobId)"
    )
    return ids


def test_queue_history_and_settings_survive_a_crash(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    finished = [queue(server, image(c)) for c in (1, 2, 3, 4)] + [queue(server, image(5, "PreviewImage"))]
    wait_until(lambda: all(job(server, j)["status"] == "completed" for j in finished))
    assert server.request("POST", "/api/settings/Comfy.QueueButton.BatchCountLimit", 250)[0] == 200
    saved = {"nodes": [], "links": [], "version": 0.4, "extra": {"kept": True}}
    assert server.request("POST", "/api/userdata/workflows%2Fkept.json", saved)[0] == 200
    running = queue(server, long_job(1))
    wait_until(lambda: job(server, running)["status"] == "in_progress")
    pending = [queue(server, image(c)) for c in (6, 7, 8)]

    server.kill()  # SIGKILL: a crash, with a job running and three waiting
    server.start()

    open_frontend(page, expect, server.url)
    open_sidebar(page)
    history = page.get_by_test_id("impasto-queue-history")
    for job_id in pending:  # back with the same ids, in order, and then they run
        expect(history.locator(f"[data-job-id='{job_id}'] img")).to_have_js_property("naturalWidth", 24)
    order = [job(server, j)["number"] for j in pending]
    assert order == sorted(order)
    starts = [job(server, j)["start_time"] for j in pending]
    assert starts == sorted(starts)
    interrupted = job(server, running)
    assert interrupted["status"] == "cancelled" and interrupted["stop_reason"] == "server_restarted"
    expect(history.locator(f"[data-job-id='{running}']")).to_have_attribute("data-status", "cancelled")
    for job_id in finished:  # thumbnails still load, the PreviewImage's temp image included
        expect(history.locator(f"[data-job-id='{job_id}'] img")).to_have_js_property("naturalWidth", 24)
    assert server.request("GET", "/api/settings")[1]["Comfy.QueueButton.BatchCountLimit"] == 250
    assert server.request("GET", "/api/userdata/workflows%2Fkept.json")[1] == saved
    assert_no_unexpected_errors(page_log)


def test_pending_jobs_come_back_in_order_after_a_crash(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    assert server.request("POST", "/api/impasto/queue/pause")[0] == 200
    pending = [queue(server, image(c)) for c in (11, 12, 13)]
    assert server.request("POST", f"/api/impasto/jobs/{pending[2]}/move", {"to": "front"})[0] == 200
    server.kill()
    server.start()
    open_frontend(page, expect, server.url)
    open_sidebar(page)
    expect(page.get_by_test_id("impasto-queue-paused")).to_be_visible()
    expect(page.locator("[data-kind=pending]")).to_have_count(3)
    assert pending_order(page) == [pending[2], pending[0], pending[1]]
    page.get_by_test_id("impasto-queue-pause").click()  # resume
    expect(page.locator("[data-kind=pending]")).to_have_count(0)
    wait_until(lambda: all(job(server, j)["status"] == "completed" for j in pending))
    assert_no_unexpected_errors(page_log)


@pytest.fixture
def second_page(playwright_driver, chromium, page_log) -> Iterator[Page]:
    """Browser B: another Chromium with its own profile, recording like the first."""
    browser = playwright_driver.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(viewport=VIEWPORT)
        context.route(page_log.foreign_urls(), lambda route: route.abort("blockedbyclient"))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        yield page
        unexpected = [e for e in errors if "ERR_BLOCKED_BY_CLIENT" not in e and "404" not in e]
        assert unexpected == [], "errors in browser B"
    finally:
        browser.close()


def step_of(page: Page, prompt_id: str) -> float:
    progress = [m["data"]["value"] for m in messages(page, prompt_id) if m["type"] == "progress"]
    return max(progress, default=0)


def test_progress_after_a_reload_and_from_a_second_browser(page, second_page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    assert server.request("POST", "/api/impasto/queue/resume")[0] == 200
    record(page)
    open_frontend(page, expect, server.url)
    pagekit.load(page, pagekit.progress(20.0, 2, "fixed", "viewers"))
    page.get_by_test_id("queue-button").click()
    page.wait_for_function("() => window.__prompts.length === 1 && window.__prompts[0].status === 200")
    running = str(pagekit.prompts_sent(page)[0]["answer"]["prompt_id"])
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'progress' && m.data.prompt_id === id)", arg=running
    )
    page.wait_for_timeout(1500)

    # A reloads: the running job, its progress and its X come back.
    page.reload()
    page.wait_for_function("() => window.app?.graph != null && window.app.vueAppReady === true")
    cancel = page.get_by_role("button", name="Cancel current run")
    expect(cancel).to_be_enabled()
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'progress' && m.data.prompt_id === id)", arg=running
    )
    first = step_of(page, running)
    page.wait_for_function(
        "([id, step]) => window.__messages.some((m) => m.type === 'progress' && m.data.prompt_id === id"
        " && m.data.value > step)",
        arg=[running, first],
    )
    page.get_by_test_id("queue-overlay-toggle").click()
    expect(page.get_by_test_id("queue-progress-overlay").locator(f"[data-job-id='{running}']")).to_be_visible()
    page.get_by_test_id("queue-overlay-toggle").click()

    # B sees the job running with live progress, but not as its own run.
    b = second_page
    record(b)
    open_frontend(b, expect, server.url)
    expect(b.get_by_test_id("queue-overlay-toggle")).to_contain_text("1 active")
    b.get_by_test_id("queue-overlay-toggle").click()
    expect(b.get_by_test_id("queue-progress-overlay").locator(f"[data-job-id='{running}']")).to_be_visible()
    b.get_by_test_id("queue-overlay-toggle").click()
    open_sidebar(b)
    row = b.get_by_test_id("impasto-queue-running").locator(f"[data-job-id='{running}']")
    expect(row).to_contain_text("SeededProgress")
    shown = row.locator(".impasto-q-node").text_content() or ""
    expect(row.locator(".impasto-q-node")).not_to_have_text(shown)  # the step count advances live
    assert [m for m in messages(b, running) if m["type"] == "executing"] == []  # B's canvas highlights nothing

    # X in A interrupts it after the reload.
    cancel.click()
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'execution_interrupted' && m.data.prompt_id === id)",
        arg=running,
    )
    expect(row).to_have_count(0)

    # B cancels A's next job from its sidebar; then a short job of A shows in B's history without a refresh.
    second = queue(server, long_job(3))
    b_row = b.get_by_test_id("impasto-queue-running").locator(f"[data-job-id='{second}']")
    b_row.click(button="right")
    b.get_by_test_id("impasto-queue-menu").get_by_text("Cancel").click()
    wait_until(lambda: job(server, second)["status"] == "cancelled")
    short = queue(server, image(31))
    expect(b.get_by_test_id("impasto-queue-history").locator(f"[data-job-id='{short}'] img")).to_have_js_property(
        "naturalWidth", 24
    )
    assert b.evaluate("() => window.__sockets") == 1
    assert_no_unexpected_errors(page_log)


REFUSED = "net::ERR_CONNECTION_REFUSED"


def test_the_sidebar_reconnects_and_resyncs_when_the_server_restarts_under_it(
    page, expect: Expect, page_log, e2e_server
):
    server = e2e_server
    assert server.request("POST", "/api/impasto/queue/pause")[0] == 200
    before = queue(server, image(41))
    open_frontend(page, expect, server.url)
    open_sidebar(page)
    expect(page.locator(f"[data-kind=pending][data-job-id='{before}']")).to_be_visible()
    server.stop()  # the page stays open
    server.start()
    after = queue(server, image(42))  # queued while the page was away
    expect(page.locator(f"[data-kind=pending][data-job-id='{after}']")).to_be_visible()
    expect(page.get_by_test_id("impasto-queue-paused")).to_be_visible()
    page.get_by_test_id("impasto-queue-pause").click()  # resume, from the reconnected page
    history = page.get_by_test_id("impasto-queue-history")
    for job_id in (before, after):
        expect(history.locator(f"[data-job-id='{job_id}'] img")).to_have_js_property("naturalWidth", 24)
    # While the server was down the browser logged its refused requests and sockets, and the frontend's own code (its
    # /assets/ bundles) its failed fetches; impasto's extension logged nothing, and nothing else went wrong.
    page_log.console[:] = [e for e in page_log.console if not while_server_was_down(page_log, e)]
    assert_no_unexpected_errors(page_log)


def while_server_was_down(log, entry) -> bool:
    if entry.type != "error" or not log.is_local(entry.url):
        return False
    if REFUSED in entry.text:  # the browser's own report of a refused request or socket
        return True
    return "/assets/" in entry.url and ("Failed to fetch" in entry.text or "Network Error" in entry.text)
