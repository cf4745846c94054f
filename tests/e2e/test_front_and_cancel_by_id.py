"""Queueing at the front from the Run button's keys (seed-features.md item 1), and cancel by id with a typed
answer from the page (item 17)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.pagekit import prompts_sent, record, wait_until
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e


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
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": f"f{color}"}},
    }


def pending_ids(server: ServerProcess) -> list[str]:
    return [item[1] for item in server.request("GET", "/queue")[1]["queue_pending"]]


def last_prompt(page: Page, count: int) -> dict[str, Any]:
    page.wait_for_function("n => window.__prompts.length === n && window.__prompts[n - 1].status === 200", arg=count)
    sent: dict[str, Any] = prompts_sent(page)[count - 1]
    return sent


def test_shift_click_and_ctrl_shift_enter_queue_at_the_front(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    assert server.request("POST", "/api/impasto/queue/pause")[0] == 200
    try:
        waiting = [queue(server, image(c)) for c in (1, 2)]
        record(page)
        open_frontend(page, expect, server.url)
        pagekit.load(page, pagekit.seeded(1, "increment", "front"))
        run = page.get_by_test_id("queue-button")

        run.click(modifiers=["Shift"])
        shifted = last_prompt(page, 1)
        assert shifted["body"].get("front") is True
        page.evaluate("() => document.activeElement?.blur()")
        page.keyboard.press("Control+Shift+Enter")
        keyed = last_prompt(page, 2)
        assert keyed["body"].get("front") is True
        page.keyboard.press("Control+Enter")
        plain = last_prompt(page, 3)
        assert "front" not in plain["body"] and "number" not in plain["body"]

        fronts = [keyed["answer"]["prompt_id"], shifted["answer"]["prompt_id"]]
        assert pending_ids(server) == [*fronts, *waiting, plain["answer"]["prompt_id"]]
    finally:
        assert server.request("POST", "/api/impasto/queue/resume")[0] == 200
    order = [*fronts, *waiting]
    wait_until(lambda: all(server.request("GET", f"/api/jobs/{j}")[1]["status"] == "completed" for j in order))
    starts = [server.request("GET", f"/api/impasto/jobs/{j}")[1]["start_time"] for j in order]
    assert starts == sorted(starts)  # the front jobs ran before the ones already waiting
    assert_no_unexpected_errors(page_log)


CANCEL = """async (id) => {
  const response = await fetch(`/api/impasto/jobs/${id}/cancel`, { method: 'POST' });
  return { status: response.status, body: await response.json() };
}"""

SUBMIT_AND_CANCEL = """async (prompt) => {
  const queued = await (await fetch('/api/prompt', { method: 'POST', body: JSON.stringify({ prompt }) })).json();
  const response = await fetch(`/api/impasto/jobs/${queued.prompt_id}/cancel`, { method: 'POST' });
  return { id: queued.prompt_id, status: response.status, body: await response.json() };
}"""


def ended_status(server: ServerProcess, job_id: str) -> str:
    def ended() -> str | None:
        status = str(server.request("GET", f"/api/impasto/jobs/{job_id}")[1]["status"])
        return None if status in ("pending", "in_progress") else status

    result: str = wait_until(ended)
    return result


def cancel(page: Page, job_id: str) -> tuple[int, str]:
    answer = page.evaluate(CANCEL, job_id)
    return answer["status"], answer["body"]["result"]


def test_cancel_by_id_answers_what_it_did_and_never_hits_another_job(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    open_frontend(page, expect, server.url)
    running = queue(server, {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 100000}}})
    pending = queue(server, image(3))
    wait_until(lambda: server.request("GET", f"/api/jobs/{running}")[1]["status"] == "in_progress")
    assert cancel(page, pending) == (200, "cancelled")
    assert cancel(page, running) == (200, "cancelled")
    wait_until(lambda: server.request("GET", f"/api/jobs/{running}")[1]["status"] == "cancelled")
    assert cancel(page, running) == (200, "already_finished")
    assert cancel(page, "00000000-0000-4000-8000-000000000000") == (200, "unknown")

    # Cancelled right after submission, while the queue holds nothing else: held (paused) it never starts;
    # running, the answer says truthfully whether the cancel came first.
    assert server.request("POST", "/api/impasto/queue/pause")[0] == 200
    answer = page.evaluate(SUBMIT_AND_CANCEL, image(4))
    assert server.request("POST", "/api/impasto/queue/resume")[0] == 200
    assert (answer["status"], answer["body"]["result"]) == (200, "cancelled")
    job = server.request("GET", f"/api/impasto/jobs/{answer['id']}")[1]
    assert job["start_time"] is None and job["stop_reason"] == "removed"
    assert server.request("GET", f"/history/{answer['id']}")[1] == {}
    for color in (6, 7, 8):
        answer = page.evaluate(SUBMIT_AND_CANCEL, image(color))
        status = ended_status(server, answer["id"])
        assert (answer["body"]["result"], status) in (("cancelled", "cancelled"), ("already_finished", "completed"))

    # Two back to back: a cancel of the first as it finishes leaves the second to complete.
    first = queue(server, {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 20}}})
    second = queue(server, image(5))
    wait_until(lambda: server.request("GET", f"/api/jobs/{first}")[1]["status"] != "pending")
    page.wait_for_timeout(150)  # about when the first one ends
    code, result = cancel(page, first)
    assert code == 200 and result in ("cancelled", "already_finished")
    wait_until(
        lambda: server.request("GET", f"/api/jobs/{second}")[1]["status"] in ("completed", "failed", "cancelled")
    )
    assert server.request("GET", f"/api/jobs/{second}")[1]["status"] == "completed"
    assert_no_unexpected_errors(page_log)
