"""Batch count in the official frontend against impasto: N runs with seeds per control_after_generate, and the
batch limit from Settings (seed-features.md items 2 and 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import pagekit
from tests.e2e.pagekit import SEED_NODE, prompts_sent, record, wait_until
from tests.e2e.test_frontend_smoke import assert_no_unexpected_errors, open_frontend
from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Expect, Page

pytestmark = pytest.mark.e2e

LIMIT_SETTING = "Comfy.QueueButton.BatchCountLimit"


@pytest.fixture(scope="module")
def e2e_server(pack_server: ServerProcess) -> ServerProcess:
    return pack_server


def batch_field(page: Page):
    return page.get_by_role("textbox", name="Batch Count")


def set_batch_count(page: Page, count: int) -> None:
    field = batch_field(page)
    field.fill(str(count))
    field.press("Enter")


def sent_seeds(page: Page, after: int = 0) -> list[int]:
    return [p["body"]["prompt"][str(SEED_NODE)]["inputs"]["seed"] for p in prompts_sent(page)[after:]]


def finished(server: ServerProcess, prompt_ids: list[str]) -> dict[str, Any]:
    """The history entries of `prompt_ids`, once all of them have one."""

    def entries() -> dict[str, Any] | None:
        found = {}
        for prompt_id in prompt_ids:
            entry = server.request("GET", f"/history/{prompt_id}")[1]
            if not entry:
                return None
            found[prompt_id] = entry[prompt_id]
        return found

    result: dict[str, Any] = wait_until(entries)
    return result


def saved_files(server: ServerProcess, prefix: str) -> list[str]:
    return sorted(p.name for p in (server.base / "output").glob(f"{prefix}_*.png"))


def run_batch(page: Page, server: ServerProcess, workflow: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Loads `workflow`, sets the batch count, clicks Run; the page's requests once all `count` have answered."""
    before = len(prompts_sent(page))
    pagekit.load(page, workflow)
    set_batch_count(page, count)
    page.get_by_test_id("queue-button").click()
    page.wait_for_function(
        "([before, count]) => window.__prompts.length === before + count"
        " && window.__prompts.every((p) => p.status !== null)",
        arg=[before, count],
    )
    sent = prompts_sent(page)[before:]
    assert [p["status"] for p in sent] == [200] * count
    finished(server, [p["answer"]["prompt_id"] for p in sent])
    return sent


@pytest.mark.parametrize(
    ("control", "seed", "expected", "shown"),
    [("increment", 10, [10, 11, 12], 13), ("decrement", 10, [10, 9, 8], 7)],
)
def test_batch_of_three_steps_the_seed_and_makes_three_images(
    page, expect: Expect, page_log, e2e_server, control, seed, expected, shown
):
    record(page)
    open_frontend(page, expect, e2e_server.url)
    prefix = f"batch-{control}"
    sent = run_batch(page, e2e_server, pagekit.seeded(seed, control, prefix), 3)
    assert sent_seeds(page) == expected
    assert pagekit.widget_value(page, SEED_NODE, "seed") == shown
    for request in sent:  # what the frontend promises in every request (seed-features.md item 1)
        assert request["body"]["client_id"] and "workflow" in request["body"]["extra_data"]["extra_pnginfo"]
        assert request["answer"]["node_errors"] == {}
    numbers = [p["answer"]["number"] for p in sent]
    assert numbers == sorted(numbers)
    entries = finished(e2e_server, [p["answer"]["prompt_id"] for p in sent])
    starts = [
        next(
            m[1]["timestamp"]
            for m in entries[p["answer"]["prompt_id"]]["status"]["messages"]
            if m[0] == "execution_start"
        )
        for p in sent
    ]
    assert starts == sorted(starts)  # they ran in the order they were queued
    files = saved_files(e2e_server, prefix)
    assert len(files) == 3
    assert len({(e2e_server.base / "output" / name).read_bytes() for name in files}) == 3  # three different images
    assert_no_unexpected_errors(page_log)


def test_fixed_seed_batch_runs_once_and_serves_the_rest_from_the_cache(page, expect: Expect, page_log, e2e_server):
    record(page)
    open_frontend(page, expect, e2e_server.url)
    prefix = "batch-fixed"
    sent = run_batch(page, e2e_server, pagekit.seeded(7, "fixed", prefix), 3)
    assert sent_seeds(page) == [7, 7, 7]
    assert pagekit.widget_value(page, SEED_NODE, "seed") == 7
    for request in sent[1:]:
        prompt_id = request["answer"]["prompt_id"]
        page.wait_for_function(
            "id => window.__messages.some((m) => m.type === 'executing' && m.data?.node === null"
            " && m.data?.prompt_id === id)",
            arg=prompt_id,
        )
        seen = pagekit.messages(page, prompt_id)
        cached = next(m["data"]["nodes"] for m in seen if m["type"] == "execution_cached")
        assert sorted(cached) == ["1", "2"]
        assert [m["data"]["node"] for m in seen if m["type"] == "executing"] == [None]
    assert len(saved_files(e2e_server, prefix)) == 1
    assert_no_unexpected_errors(page_log)


def test_randomize_sends_the_shown_seed_first_and_new_ones_after(page, expect: Expect, page_log, e2e_server):
    record(page)
    open_frontend(page, expect, e2e_server.url)
    run_batch(page, e2e_server, pagekit.seeded(5, "randomize", "batch-random"), 3)
    seeds = sent_seeds(page)
    assert seeds[0] == 5 and len(set(seeds)) == 3
    assert pagekit.widget_value(page, SEED_NODE, "seed") not in seeds
    assert_no_unexpected_errors(page_log)


def test_control_before_generate_steps_before_each_later_queue(page, expect: Expect, page_log, e2e_server):
    assert e2e_server.request("POST", "/api/settings/Comfy.WidgetControlMode", "before")[0] == 200
    try:
        record(page)
        open_frontend(page, expect, e2e_server.url)
        run_batch(page, e2e_server, pagekit.seeded(20, "increment", "batch-before"), 1)
        assert sent_seeds(page) == [20]  # the very first queue of a new widget sends its value
        set_batch_count(page, 3)
        page.get_by_test_id("queue-button").click()
        page.wait_for_function("() => window.__prompts.length === 4 && window.__prompts.every((p) => p.status)")
        assert sent_seeds(page, after=1) == [21, 22, 23]
    finally:
        assert e2e_server.request("POST", "/api/settings/Comfy.WidgetControlMode", "after")[0] == 200
    assert_no_unexpected_errors(page_log)


def test_the_arrows_double_and_halve_the_batch_count(page, expect: Expect, page_log, e2e_server):
    open_frontend(page, expect, e2e_server.url)
    set_batch_count(page, 3)
    group = page.locator(".batch-count")
    group.get_by_role("button", name="Increment").click()
    expect(batch_field(page)).to_have_value("6")
    group.get_by_role("button", name="Decrement").click()
    group.get_by_role("button", name="Decrement").click()
    expect(batch_field(page)).to_have_value("1")  # 6 -> 3 -> 1 (halved, never below 1)
    assert_no_unexpected_errors(page_log)


def test_the_limit_is_100_and_settings_raise_it_across_reloads_and_restarts(page, expect: Expect, page_log, e2e_server):
    server = e2e_server
    record(page)
    open_frontend(page, expect, server.url)
    set_batch_count(page, 150)
    expect(batch_field(page)).to_have_value("100")  # clamped to the default limit

    # Settings -> Queue Button -> Batch count limit, as a person sets it.
    pagekit.command(page, "Comfy.ShowSettingsDialog")
    dialog = page.get_by_test_id("settings-dialog")
    dialog.get_by_placeholder("Search Settings...").fill("Batch count limit")
    row = dialog.locator(".setting-item", has_text="Batch count limit")
    with page.expect_request(lambda r: r.url.endswith(f"/api/settings/{LIMIT_SETTING}")) as saved:
        field = row.get_by_role("spinbutton")
        field.fill("200")
        field.press("Enter")
    assert saved.value.post_data_json == 200
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    assert server.request("POST", "/api/impasto/queue/pause")[0] == 200  # 150 jobs wait, the count is exact
    pagekit.load(page, pagekit.seeded(1, "increment", "limit"))
    set_batch_count(page, 150)
    expect(batch_field(page)).to_have_value("150")
    page.get_by_test_id("queue-button").click()
    page.wait_for_function(
        "() => window.__prompts.length === 150 && window.__prompts.every((p) => p.status === 200)",
        timeout=120_000,
    )
    assert server.request("GET", "/api/impasto/queue")[1]["counts"]["pending"] == 150
    assert server.request("POST", "/api/impasto/queue/resume")[0] == 200
    wait_until(lambda: server.request("GET", "/api/impasto/queue")[1]["counts"]["pending"] == 0, timeout=120)

    page.reload()
    page.wait_for_function("() => window.app?.graph != null && window.app.vueAppReady === true")
    set_batch_count(page, 150)
    expect(batch_field(page)).to_have_value("150")

    page.goto("about:blank")  # the page is closed while the server restarts
    server.stop()
    server.start()
    assert server.request("GET", "/api/settings")[1][LIMIT_SETTING] == 200
    open_frontend(page, expect, server.url)
    set_batch_count(page, 150)
    expect(batch_field(page)).to_have_value("150")
    assert_no_unexpected_errors(page_log)
