"""impasto's Queue sidebar in the official frontend: the Q key, live pending and running jobs, the paused state,
right-click actions and the toolbar, against a real server with a real worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "e2e-artifacts"


def save_screenshot(page: Page, name: str) -> None:
    """The main states of the sidebar, kept as artifacts of the run (build/e2e-artifacts/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def image(color: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"q{color}"}},
    }


def queue(server: ServerProcess, prompt: dict[str, Any]) -> str:
    status, body = server.request("POST", "/prompt", {"prompt": prompt})
    assert status == 200, body
    return str(body["prompt_id"])


def sidebar(page: Page):
    return page.locator(".impasto-queue")


def pending_ids(page: Page) -> list[str]:
    return page.locator("[data-testid=impasto-queue-pending] [data-kind=pending]").evaluate_all(
        "rows => rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map(r => r.dataset.jobId)"
    )


def test_q_toggles_the_sidebar_but_not_while_typing(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    expect(sidebar(page)).to_have_count(0)
    page.evaluate("() => document.activeElement?.blur()")
    page.keyboard.press("q")
    expect(sidebar(page)).to_be_visible()
    page.keyboard.press("q")
    expect(sidebar(page)).to_have_count(0)
    page.evaluate(
        """() => { const input = document.createElement('input'); input.id = 'typing-here';
                   document.body.append(input); input.focus(); }"""
    )
    page.keyboard.press("q")
    assert page.locator("#typing-here").input_value() == "q"
    expect(sidebar(page)).to_have_count(0)
    assert_no_unexpected_errors(page_log)


def test_pending_jobs_live_updates_paused_state_and_right_click_actions(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    expect(sidebar(page)).to_be_visible()
    pause = page.get_by_test_id("impasto-queue-pause")
    pause.click()
    expect(page.get_by_test_id("impasto-queue-paused")).to_be_visible()
    ids = [queue(e2e_server, image(c)) for c in (1, 2, 3)]
    expect(page.locator("[data-testid=impasto-queue-pending] [data-kind=pending]")).to_have_count(3)
    assert pending_ids(page) == ids
    save_screenshot(page, "queue-sidebar-paused.png")

    # Right-click the last one: Move to front.
    page.locator(f"[data-kind=pending][data-job-id='{ids[2]}']").click(button="right")
    page.get_by_test_id("impasto-queue-menu").get_by_text("Move to front").click()
    expect(page.locator("[data-kind=pending]").first).to_have_attribute("data-job-id", ids[2])
    page.wait_for_function(
        "first => [...document.querySelectorAll('[data-kind=pending]')].sort((a, b) => parseFloat(a.style.top)"
        " - parseFloat(b.style.top))[0]?.dataset.jobId === first",
        arg=ids[2],
    )
    assert pending_ids(page) == [ids[2], ids[0], ids[1]]

    # Right-click the first one: Move to back.
    page.locator(f"[data-kind=pending][data-job-id='{ids[2]}']").click(button="right")
    page.get_by_test_id("impasto-queue-menu").get_by_text("Move to back").click()
    page.wait_for_function(
        "last => [...document.querySelectorAll('[data-kind=pending]')].sort((a, b) => parseFloat(a.style.top)"
        " - parseFloat(b.style.top)).at(-1)?.dataset.jobId === last",
        arg=ids[2],
    )
    assert [item[1] for item in e2e_server.request("GET", "/queue")[1]["queue_pending"]] == [ids[0], ids[1], ids[2]]
    page.get_by_test_id("impasto-queue-menu").wait_for(state="detached")
    page.locator(f"[data-kind=pending][data-job-id='{ids[2]}']").click(button="right")
    page.get_by_test_id("impasto-queue-menu").get_by_text("Move to front").click()
    page.wait_for_function(
        "first => [...document.querySelectorAll('[data-kind=pending]')].sort((a, b) => parseFloat(a.style.top)"
        " - parseFloat(b.style.top))[0]?.dataset.jobId === first",
        arg=ids[2],
    )

    # Right-click the middle one: Delete.
    page.locator(f"[data-kind=pending][data-job-id='{ids[0]}']").click(button="right")
    page.get_by_test_id("impasto-queue-menu").get_by_text("Delete").click()
    expect(page.locator("[data-kind=pending]")).to_have_count(2)
    assert e2e_server.request("GET", f"/api/impasto/jobs/{ids[0]}")[1]["stop_reason"] == "removed"
    assert all(e2e_server.request("GET", f"/api/impasto/jobs/{i}")[1]["start_time"] is None for i in ids)  # paused

    # Resume: both run, and their images show in History.
    pause.click()
    expect(page.get_by_test_id("impasto-queue-paused")).to_be_hidden()
    expect(page.locator("[data-kind=pending]")).to_have_count(0)
    history = page.get_by_test_id("impasto-queue-history")
    for job_id in (ids[2], ids[1]):
        expect(history.locator(f"[data-job-id='{job_id}'] img")).to_have_js_property("naturalWidth", 32)
    save_screenshot(page, "queue-sidebar-history.png")
    assert_no_unexpected_errors(page_log)


def test_the_toolbar_interrupts_and_clear_pending_keeps_the_running_job(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    long_job = queue(e2e_server, {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 100000}}})
    waiting = [queue(e2e_server, image(c)) for c in (7, 8)]
    running = page.get_by_test_id("impasto-queue-running")
    expect(running.locator(f"[data-job-id='{long_job}']")).to_be_visible()
    expect(running).to_contain_text("/100000")  # live step progress from the observer socket
    save_screenshot(page, "queue-sidebar-running.png")
    page.get_by_test_id("impasto-queue-clear").click()
    expect(page.locator("[data-kind=pending]")).to_have_count(0)
    for job_id in waiting:
        assert e2e_server.request("GET", f"/api/impasto/jobs/{job_id}")[1]["stop_reason"] == "removed"
    expect(running.locator(f"[data-job-id='{long_job}']")).to_be_visible()  # clear keeps the running job
    page.get_by_test_id("impasto-queue-interrupt").click()
    expect(running.locator(f"[data-job-id='{long_job}']")).to_have_count(0)
    entry = e2e_server.request("GET", f"/history/{long_job}")[1][long_job]
    assert [m[0] for m in entry["status"]["messages"]][-1] == "execution_interrupted"
    assert_no_unexpected_errors(page_log)


def test_the_sidebar_rebuilds_after_a_reload(page, expect: Expect, page_log, e2e_server):
    assert e2e_server.request("POST", "/api/impasto/queue/pause")[0] == 200
    held = queue(e2e_server, image(9))
    open_frontend(page, expect, e2e_server.url)
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    expect(page.locator(f"[data-kind=pending][data-job-id='{held}']")).to_be_visible()
    expect(page.get_by_test_id("impasto-queue-paused")).to_be_visible()
    page.reload()
    page.wait_for_function("() => window.app?.graph != null && window.app.vueAppReady === true")
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    expect(page.locator(f"[data-kind=pending][data-job-id='{held}']")).to_be_visible()
    assert e2e_server.request("POST", "/api/impasto/queue/resume")[0] == 200
    expect(page.locator(f"[data-kind=pending][data-job-id='{held}']")).to_have_count(0)
    assert json.dumps(page_log.page_errors) == "[]"
    assert_no_unexpected_errors(page_log)


def live_repeats(server: ServerProcess) -> list[dict[str, Any]]:
    repeats = server.request("GET", "/api/impasto/repeats")[1]["repeats"]
    return [r for r in repeats if r["state"] in ("active", "idle")]


def test_repeat_on_server_runs_the_graph_goes_idle_and_follows_edits(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    pagekit.load(page, pagekit.seeded(5, "fixed", "repeat"))
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    page.get_by_test_id("impasto-queue-repeat").click()
    repeats = page.get_by_test_id("impasto-queue-repeats")
    expect(repeats.locator("[data-state=idle]")).to_have_count(1)  # one run with the fixed seed, then idle
    (repeat,) = live_repeats(e2e_server)
    assert repeat["runs"] == 1
    # An edit in the page reaches the repeat (PATCH), which runs once more with the new value.
    page.evaluate(
        """() => { const node = window.app.graph.getNodeById(1); node.widgets[0].value = 6;
                   window.app.extensionManager.workflow.activeWorkflow.changeTracker.checkState(); }"""
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=impasto-queue-repeats] [data-state=idle]')]"
        ".some(el => el.textContent.includes('2 runs'))"
    )
    history = e2e_server.request("GET", "/history")[1]
    prompts = [entry["prompt"][2] for entry in history.values()]
    seeds = sorted(p["1"]["inputs"]["seed"] for p in prompts if p.get("1", {}).get("class_type") == "SeededImage")
    assert seeds[-2:] == [5, 6]
    repeats.get_by_text("Stop").click()
    expect(repeats.locator("[data-repeat-id]")).to_have_count(0)
    assert live_repeats(e2e_server) == []
    assert_no_unexpected_errors(page_log)


def test_force_stop_from_the_sidebar_ends_a_job_that_never_yields(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    before = e2e_server.request("GET", "/api/impasto/queue")[1]["workers"][0]
    stuck = queue(e2e_server, {"1": {"class_type": "Stuck", "inputs": {"seconds": 600.0}}})
    after = queue(e2e_server, image(11))
    running = page.get_by_test_id("impasto-queue-running")
    running.locator(f"[data-job-id='{stuck}']").click(button="right")
    page.get_by_test_id("impasto-queue-menu").get_by_text("Force stop").click()
    history = page.get_by_test_id("impasto-queue-history")
    expect(history.locator(f"[data-job-id='{after}'] img")).to_have_js_property("naturalWidth", 32)
    assert e2e_server.request("GET", f"/api/impasto/jobs/{stuck}")[1]["stop_reason"] == "force_stopped"
    worker = e2e_server.request("GET", "/api/impasto/queue")[1]["workers"][0]
    assert worker["restarts"] == before["restarts"] + 1 and worker["pid"] != before["pid"]
    assert_no_unexpected_errors(page_log)


def test_load_workflow_from_a_finished_job(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    pagekit.load(page, pagekit.seeded(5, "fixed", "repeat"))
    with page.expect_response(lambda r: r.url.endswith("/api/prompt") and r.request.method == "POST") as queued:
        page.get_by_test_id("queue-button").click()
    job_id = queued.value.json()["prompt_id"]
    page.evaluate("() => window.app.loadGraphData(null)")  # the default graph replaces it
    assert "SeededImage" not in page.evaluate("() => window.app.graph.nodes.map(n => n.type)")
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    item = page.get_by_test_id("impasto-queue-history").locator(f"[data-job-id='{job_id}']")
    item.click(button="right")
    page.get_by_test_id("impasto-queue-menu").get_by_text("Load workflow").click()
    page.wait_for_function("() => window.app.graph.nodes.some(n => n.type === 'SeededImage')")
    assert_no_unexpected_errors(page_log)


def test_drag_reorders_and_moving_the_running_job_is_refused(page, expect: Expect, page_log, e2e_server):
    assert e2e_server.request("POST", "/api/impasto/queue/resume")[0] == 200
    open_frontend(page, expect, e2e_server.url)
    page.evaluate("() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')")
    running_job = queue(e2e_server, {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 100000}}})
    a, b, c = (queue(e2e_server, image(c)) for c in (21, 22, 23))
    expect(page.locator("[data-kind=pending]")).to_have_count(3)
    # Drag A onto C: A moves before C.
    page.locator(f"[data-kind=pending][data-job-id='{a}']").drag_to(
        page.locator(f"[data-kind=pending][data-job-id='{c}']")
    )
    page.wait_for_function(
        "order => JSON.stringify([...document.querySelectorAll('[data-kind=pending]')]"
        ".sort((x, y) => parseFloat(x.style.top) - parseFloat(y.style.top)).map(r => r.dataset.jobId))"
        " === JSON.stringify(order)",
        arg=[b, a, c],
    )
    assert [item[1] for item in e2e_server.request("GET", "/queue")[1]["queue_pending"]] == [b, a, c]
    status, refused = e2e_server.request("POST", f"/api/impasto/jobs/{running_job}/move", {"to": "front"})
    assert status == 409 and refused["error"]["type"] == "job_not_pending"
    e2e_server.request("POST", "/queue", {"clear": True})
    e2e_server.request("POST", "/interrupt", {"prompt_id": running_job})
    expect(page.get_by_test_id("impasto-queue-running").locator(f"[data-job-id='{running_job}']")).to_have_count(0)
    assert_no_unexpected_errors(page_log)
