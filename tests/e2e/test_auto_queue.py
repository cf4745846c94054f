"""Run (Instant) and Run (On Change) in the official frontend against impasto (seed-features.md items 4 and 5)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.pagekit import SEED_NODE, messages, prompts_sent, record, set_widget, wait_until
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.seed_nodes import FAILING_SEED
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e

MODE = "() => window.app.extensionManager.queueSettings.mode"


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


def choose_mode(page: Page, label: str) -> None:
    page.get_by_test_id("queue-mode-menu-trigger").click()
    page.get_by_role("menuitemradio", name=label, exact=True).click()


def stop_auto_queue(page: Page) -> None:
    page.evaluate("() => { window.app.extensionManager.queueSettings.mode = 'disabled' }")


def seeds(sent: list[dict[str, Any]]) -> list[int]:
    return [p["body"]["prompt"][str(SEED_NODE)]["inputs"]["seed"] for p in sent]


def files(server: ServerProcess, prefix: str) -> int:
    return len(list((server.base / "output").glob(f"{prefix}_*.png")))


def queue_is_empty(server: ServerProcess) -> bool:
    counts = server.request("GET", "/api/impasto/queue")[1]["counts"]
    return counts["pending"] == 0 and counts["in_progress"] == 0


def test_run_on_change_queues_once_per_edit_and_coalesces_edits_made_while_running(
    page, expect: Expect, page_log, e2e_server
):
    record(page)
    open_frontend(page, expect, e2e_server.url)
    pagekit.load(page, pagekit.progress(1.5, 100, "fixed", "on-change"))
    choose_mode(page, "Run (On Change)")
    expect(page.get_by_test_id("queue-button")).to_have_text("Run (On Change)")
    page.wait_for_timeout(300)
    assert prompts_sent(page) == []  # choosing the mode queues nothing

    set_widget(page, SEED_NODE, "seed", 200)
    page.wait_for_function("() => window.__prompts.length === 1 && window.__prompts[0].status === 200")
    first = prompts_sent(page)[0]["answer"]["prompt_id"]
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'execution_start' && m.data.prompt_id === id)", arg=first
    )
    for seed in (201, 202, 203, 204):  # four quick edits while it runs
        set_widget(page, SEED_NODE, "seed", seed)
    assert len(prompts_sent(page)) == 1  # nothing is sent while the run is in progress
    page.wait_for_function("() => window.__prompts.length === 2 && window.__prompts[1].status === 200")
    sent = prompts_sent(page)
    assert seeds(sent) == [200, 204]  # the first edit at once, the last state once the queue drained
    first_end = next(m["at"] for m in messages(page, first) if m["type"] == "execution_success")
    assert sent[1]["at"] >= first_end

    wait_until(lambda: queue_is_empty(e2e_server))
    page.evaluate(
        """() => { const node = window.app.graph.getNodeById(2); node.pos = [node.pos[0] + 80, node.pos[1] + 40];
                   window.app.extensionManager.workflow.activeWorkflow.changeTracker.checkState(); }"""
    )
    page.wait_for_timeout(1000)
    assert len(prompts_sent(page)) == 2  # moving a node is not a change; a fixed seed does not loop
    stop_auto_queue(page)
    assert_no_unexpected_errors(page_log)


def test_run_instant_loops_until_stopped_and_a_fixed_seed_recomputes_nothing(
    page, expect: Expect, page_log, e2e_server
):
    record(page)
    open_frontend(page, expect, e2e_server.url)
    prefix = "instant"
    pagekit.load(page, pagekit.progress(0.5, 100, "randomize", prefix))
    choose_mode(page, "Run (Instant)")
    page.wait_for_timeout(300)
    assert prompts_sent(page) == []  # choosing the mode queues nothing
    button = page.get_by_test_id("queue-button")
    button.click()
    expect(button).to_have_text("Stop Run (Instant)")
    page.wait_for_function("() => window.__prompts.length >= 4")
    random_runs = prompts_sent(page)
    assert len(set(seeds(random_runs))) == len(random_runs)  # randomize: a new seed every run
    # Each re-queue follows the `status` that reports an empty queue.
    empties = [
        m["at"]
        for m in messages(page)
        if m["type"] == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 0
    ]
    for later in random_runs[1:3]:
        previous_empty = max(at for at in empties if at <= later["at"])
        assert later["at"] - previous_empty < 1000  # the bound is 100 ms; the test machine is noisy

    pagekit.set_widget(page, SEED_NODE, "control_after_generate", "fixed")
    page.wait_for_function("n => window.__prompts.length >= n + 2", arg=len(prompts_sent(page)))
    fixed_from = len(prompts_sent(page))
    page.wait_for_function("n => window.__prompts.length >= n + 1", arg=fixed_from)
    files_before = files(e2e_server, prefix)
    started = time.monotonic()
    page.wait_for_function("n => window.__prompts.length >= n + 4", arg=fixed_from)
    fixed_runs = prompts_sent(page)[fixed_from + 1 :]
    elapsed = time.monotonic() - started
    assert len(set(seeds(fixed_runs))) == 1
    assert len(fixed_runs) <= 2.5 * elapsed + 2  # paced: about two identical runs a second, not hundreds
    for run in fixed_runs[:-1]:
        prompt_id = run["answer"]["prompt_id"]
        page.wait_for_function(
            "id => window.__messages.some((m) => m.type === 'executing' && m.data?.node === null"
            " && m.data?.prompt_id === id)",
            arg=prompt_id,
        )
        seen = messages(page, prompt_id)
        assert sorted(next(m["data"]["nodes"] for m in seen if m["type"] == "execution_cached")) == ["1", "2"]
        assert [m["data"]["node"] for m in seen if m["type"] == "executing"] == [None]
    assert files(e2e_server, prefix) == files_before  # an identical run writes no new file

    # An edit is picked up at once and executes.
    edited_from = len(prompts_sent(page))
    set_widget(page, SEED_NODE, "seconds", 0.55)
    page.wait_for_function(
        "n => window.__prompts.slice(n).some((p) => p.body.prompt['1'].inputs.seconds === 0.55 && p.answer)",
        arg=edited_from,
    )
    edited = next(p for p in prompts_sent(page)[edited_from:] if p["body"]["prompt"]["1"]["inputs"]["seconds"] == 0.55)
    prompt_id = edited["answer"]["prompt_id"]
    page.wait_for_function(
        "id => window.__messages.some((m) => m.type === 'executing' && m.data?.node === '1'"
        " && m.data?.prompt_id === id)",
        arg=prompt_id,
    )

    # Stop Run (Instant): no interrupt, no clear, the label returns, nothing more is sent.
    button.click()
    expect(button).to_have_text("Run (Instant)")
    wait_until(lambda: queue_is_empty(e2e_server))
    page.wait_for_timeout(800)
    count = len(prompts_sent(page))
    page.wait_for_timeout(1200)
    assert len(prompts_sent(page)) == count
    assert pagekit.requests_sent(page, "/api/interrupt") == []
    assert pagekit.requests_sent(page, "/api/queue") == []

    # The overlay's history shows the fixed-seed series as one entry, not one per run.
    fixed_inputs = prompts_sent(page)[fixed_from]["body"]["prompt"]["1"]["inputs"]
    series = [  # a prompt built just before the edit may be sent after it
        p["answer"]["prompt_id"]
        for p in prompts_sent(page)[fixed_from:]
        if p["body"]["prompt"]["1"]["inputs"] == fixed_inputs
    ]
    page.get_by_test_id("queue-overlay-toggle").click()
    overlay = page.get_by_test_id("queue-progress-overlay")
    expect(overlay.locator(f"[data-job-id='{series[-1]}']")).to_be_visible()
    shown = overlay.locator("[data-job-id]").evaluate_all("rows => rows.map((r) => r.dataset.jobId)")
    assert len(series) >= 4 and [job_id for job_id in shown if job_id in series] == [series[-1]]
    page.get_by_test_id("queue-overlay-toggle").click()
    stop_auto_queue(page)
    assert_no_unexpected_errors(page_log)


def test_run_instant_stops_requeueing_after_an_execution_error(page, expect: Expect, page_log, e2e_server):
    record(page)
    open_frontend(page, expect, e2e_server.url)
    pagekit.load(page, pagekit.progress(0.2, 100, "fixed", "instant-error"))
    choose_mode(page, "Run (Instant)")
    page.get_by_test_id("queue-button").click()
    page.wait_for_function("() => window.__prompts.length >= 2")
    set_widget(page, SEED_NODE, "seed", FAILING_SEED)
    page.wait_for_function("() => window.__messages.some((m) => m.type === 'execution_error')", timeout=30_000)
    wait_until(lambda: queue_is_empty(e2e_server))
    page.wait_for_timeout(1000)
    count = len(prompts_sent(page))
    page.wait_for_timeout(1500)
    assert len(prompts_sent(page)) == count  # the page stops re-queueing after an execution error
    stop_auto_queue(page)
    page_log.console.clear()  # the frontend logs the node's error, as it should
    assert_no_unexpected_errors(page_log)
