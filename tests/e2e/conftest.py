"""Fixtures for the browser tests: a real impasto server and a headless Chromium page that records what went wrong.

The browser is Debian's Chromium at /usr/bin/chromium, driven by Playwright's sync API through `executable_path`
(Playwright's own browser download cannot work where CI runs). `scripts/install-browser.sh`
installs both; without them the tests fail, they never skip. Playwright is imported only inside fixtures, so that
its absence fails these tests and leaves the rest of the suite running.

The Playwright driver (and so the server it talks to) lives for one module at most: while it is open it leaves an
asyncio loop marked as running on the main thread, which would break the async tests of any module run after it.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.support.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Error, Expect, Page, Playwright, Response, Route, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "run `bash scripts/install-browser.sh` as root (CI runs it before the tests)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # Chromium's sandbox refuses to start as root, and CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
DEFAULT_TIMEOUT_MS = 30_000

CALL_FAILED = pytest.StashKey[bool]()


@dataclass(frozen=True, slots=True)
class ConsoleEntry:
    type: str
    text: str
    url: str  # the script or resource the message comes from; "" when the browser names none


@dataclass(frozen=True, slots=True)
class HttpFailure:
    method: str
    url: str
    status: int


@dataclass
class PageLog:
    """What a page reported while a test ran.

    `http_failures` holds the impasto origin's responses with status >= 400; `blocked` the requests to any other
    origin, which the page's context aborts so that a test never depends on (or waits for) the network.
    """

    origin: str
    console: list[ConsoleEntry] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    http_failures: list[HttpFailure] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def is_local(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def foreign_urls(self) -> re.Pattern[str]:
        """Every http(s) URL outside impasto's origin, as a pattern the Playwright driver matches by itself.

        A Python callable would make the driver pause every request until the test's thread next enters a
        Playwright call (the sync API dispatches only then): the page's own requests to impasto would stall
        while a test waits on the server or sleeps.
        """
        return re.compile(rf"^https?://(?!{re.escape(urlsplit(self.origin).netloc)}(?:[/?#]|$))")

    def console_errors(self) -> list[ConsoleEntry]:
        return [entry for entry in self.console if entry.type == "error"]

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(ConsoleEntry(message.type, message.text, message.location.get("url", "")))

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(error.stack or f"{error.name}: {error.message}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and self.is_local(response.url):
            self.http_failures.append(HttpFailure(response.request.method, response.url, response.status))

    def block_foreign(self, route: Route) -> None:
        self.blocked.append(route.request.url)
        route.abort("blockedbyclient")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remembers whether the test body failed, so that the `page` fixture can keep a screenshot of it."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(f"the e2e tests need Chromium at {CHROMIUM}, which is missing: {INSTALL_HINT}", pytrace=False)
    return CHROMIUM


def fail_without_playwright() -> None:
    try:
        import playwright.sync_api  # noqa: F401 (imported only to report its absence with the fix)
    except ModuleNotFoundError:
        pytest.fail(
            f"the e2e tests need the Python package playwright, which is missing: {INSTALL_HINT}", pytrace=False
        )


@pytest.fixture(scope="session")
def expect() -> Expect:
    """Playwright's web-first assertions, which retry until they hold or time out."""
    fail_without_playwright()
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    return playwright_expect


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    fail_without_playwright()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One impasto server per module, on a fresh base directory (so its first page load is a first start)."""
    server = ServerProcess(tmp_path_factory.mktemp("e2e-base")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the test node packs (stopping nodes, a seeded node) for a returning user: the page
    restores a graph instead of opening the template browser."""
    from tests.support import seed_nodes, stop_nodes

    base = tmp_path_factory.mktemp("pack-base")
    stop_nodes.install(base)
    seed_nodes.install(base)
    server = ServerProcess(base).start()
    try:
        assert server.request("POST", "/api/settings/Comfy.TutorialCompleted", True)[0] == 200
        yield server
    finally:
        server.stop()


@pytest.fixture
def page_log(e2e_server: ServerProcess) -> PageLog:
    return PageLog(origin=e2e_server.url)


@pytest.fixture
def page(
    request: pytest.FixtureRequest,
    chromium: Path,
    playwright_driver: Playwright,
    page_log: PageLog,
    tmp_path: Path,
) -> Iterator[Page]:
    """A blank tab in a fresh Chromium profile (empty localStorage and sessionStorage), recording into `page_log`."""
    context = playwright_driver.chromium.launch_persistent_context(
        tmp_path / "chromium-profile",
        executable_path=chromium,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=VIEWPORT,
    )
    try:
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.route(page_log.foreign_urls(), page_log.block_foreign)
        page = context.pages[0] if context.pages else context.new_page()
        page_log.attach(page)
        yield page
        if request.node.stash.get(CALL_FAILED, False):
            shot = tmp_path / "failure.png"
            page.screenshot(path=shot)
            print(f"screenshot of the failed page: {shot}")
    finally:
        context.close()
