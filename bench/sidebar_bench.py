"""The Queue sidebar with a long queue, in headless Chromium against a real server.

    .venv/bin/python bench/sidebar_bench.py [--pending 5000] [--repeat 5]

Pauses the queue, queues N jobs, then measures in the page: opening the sidebar until its pending rows are
drawn, and one queue change (a job added through the API) until the sidebar shows it. Medians of the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.server_process import ServerProcess

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}},
}
TOGGLE = "() => window.app.extensionManager.command.execute('Workspace.ToggleSidebarTab.impasto-queue')"


async def fill(url: str, count: int) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/impasto/queue/pause"):
            pass
        for start in range(0, count, 100):
            batch = [session.post(f"{url}/prompt", json={"prompt": PROMPT}) for _ in range(min(100, count - start))]
            for response in await asyncio.gather(*batch):
                response.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    opened: list[float] = []
    applied: list[float] = []
    with tempfile.TemporaryDirectory() as base:
        server = ServerProcess(Path(base)).start()
        try:
            server.request("POST", "/api/settings/Comfy.TutorialCompleted", True)
            asyncio.run(fill(server.url, args.pending))
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(server.url + "/")
                page.wait_for_function("() => window.app?.graph != null && window.app.vueAppReady === true")
                for _ in range(args.repeat):
                    started = page.evaluate("() => performance.now()")
                    page.evaluate(TOGGLE)
                    page.wait_for_function(
                        "n => [...document.querySelectorAll('.impasto-queue .impasto-q-head')]"
                        ".some(h => h.textContent === `Pending (${n})`) &&"
                        " document.querySelectorAll('[data-kind=pending]').length > 10",
                        arg=args.pending,
                    )
                    opened.append(page.evaluate("() => performance.now()") - started)
                    total = args.pending + 1
                    started = page.evaluate("() => performance.now()")
                    server.request("POST", "/prompt", {"prompt": PROMPT})
                    page.wait_for_function(
                        "n => [...document.querySelectorAll('.impasto-queue .impasto-q-head')]"
                        ".some(h => h.textContent === `Pending (${n})`)",
                        arg=total,
                    )
                    applied.append(page.evaluate("() => performance.now()") - started)
                    page.evaluate(TOGGLE)  # closed again for the next round
                    args.pending = total
                browser.close()
        finally:
            server.stop()
    print(f"| sidebar with {args.pending - args.repeat:,} to {args.pending:,} pending | median ms |")
    print("|---|---:|")
    print(f"| open the sidebar until the pending rows are drawn | {statistics.median(opened):.0f} |")
    print(f"| a job queued by the API until the sidebar shows it | {statistics.median(applied):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
