"""Browser fixtures: Debian's real Chromium (/usr/bin/chromium) driven by Playwright's sync API.

    def test_login_form(live_server, browser_page):
        browser_page.goto(f"{live_server.url}/login")
        assert browser_page.title() == "Log in"

`chromium_browser` (session) is one headless Chromium per test process (per xdist worker);
`browser_context` / `browser_page` (function) are a fresh context and page per test, so no
cookies or storage leak between tests. Never `playwright install`: the tests use the
`chromium` Debian package (scripts/system-packages.sh test); missing, it skips the test on a
developer machine and fails it under CI=true (tests/services.py).

Chromium resolves every `*.localhost` host name to loopback by itself, so a test can open a
workspace URL such as `http://alice--vscode.localhost:PORT/` with no DNS or /etc/hosts entry;
`localhost_url` builds one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.services import require, require_binary

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

# Why: Playwright's sync API keeps its asyncio event loop "running" in the test thread for as
# long as the Playwright instance lives (here: the whole session, from the first browser test
# on). Django's ORM then sees an async context and raises SynchronousOnlyOperation for every
# query made in the test thread: in the test body, in DB fixtures and in pytest-django's flush.
# The test thread is not really async (it runs one greenlet at a time), so allowing it is safe.
# Set at import, not in a fixture, so that tests behave the same whatever order they run in.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Without these Chromium phones home (component updates, sync, field trials, QUIC probes...),
# which this closed network refuses, slowing or breaking tests.
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root; Chromium's sandbox refuses root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Debian's launcher adds this only when /dev/shm is small, and its check breaks when
    # /dev/shm is listed twice; containers often have a 64 MB /dev/shm, too small for a tab.
    "--disable-dev-shm-usage",
    # Tests talk to loopback only; never route them through a proxy from the environment.
    "--no-proxy-server",
]

DEFAULT_TIMEOUT_MS = 15_000  # Playwright's 30 s default makes a broken page slow to report


def localhost_url(base_url: str, host: str, path: str = "/") -> str:
    """`base_url`'s scheme and port on `host` (a `*.localhost` name), e.g. for a workspace:

    localhost_url(live_server.url, "alice--vscode.localhost") -> "http://alice--vscode.localhost:PORT/"
    """
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{path}"


def admin_log_in(page: Page, base_url: str, email: str) -> None:
    """Sign in to the admin site as `email` (its password is the factories' TEST_PASSWORD)."""
    from tests.factories import TEST_PASSWORD

    page.goto(f"{base_url}/admin/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("input[type=submit]")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the whole session (per xdist worker)."""
    executable = require_binary("chromium", "chromium")  # /usr/bin/chromium
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package (requirements-dev.txt)")
        raise  # unreachable: require() skips or fails
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Screenshots and console logs of failed browser tests land here (next to the test report).
ARTIFACTS = Path(
    os.environ.get("BROWSER_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.browser_failed = report.failed  # type: ignore[attr-defined]
    return report


@pytest.fixture
def browser_context(chromium_browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser context (own cookies and storage) per test, closed afterwards.

    When the test fails, every page's screenshot and console log are saved under ARTIFACTS.
    """
    context = chromium_browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
    console: list[str] = []
    context.on(
        "page",
        lambda page: page.on("console", lambda message: console.append(f"{message.type}: {message.text}")),
    )
    yield context
    if getattr(request.node, "browser_failed", False):
        folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[:150]
        folder.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(context.pages):
            try:
                page.screenshot(path=str(folder / f"page{number}.png"), full_page=True)
                (folder / f"page{number}.url").write_text(page.url + "\n")
            except Exception as exc:  # a dead page must not hide the test's own failure
                (folder / f"page{number}.error").write_text(repr(exc))
        (folder / "console.log").write_text("\n".join(console) + "\n")
    context.close()


@pytest.fixture
def browser_page(browser_context: BrowserContext) -> Page:
    """A fresh page in a fresh context; closed with the context after the test."""
    return browser_context.new_page()
