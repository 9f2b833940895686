"""Smoke tests of the browser set-up: Debian's Chromium via Playwright (tests/browser.py).

They prove what the real browser tests rely on: the platform's pages render in Chromium,
the ORM works in the test thread while Playwright runs, and `*.localhost` workspace host
names reach a server on loopback with the port kept in the Host header.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.models import User
from tests.browser import localhost_url
from tests.factories import UserFactory
from tests.net import free_port

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_login_page_renders_in_chromium(live_server, browser_page, tmp_path):
    response = browser_page.goto(f"{live_server.url}/login")

    assert response is not None and response.status == 200
    assert browser_page.title() == "Log in"
    assert browser_page.locator("h1").inner_text() == "Log in"
    form = browser_page.locator("form[action='/login']")
    assert form.locator("input#email[type=email]").is_visible()
    assert form.locator("input#password[type=password]").is_visible()
    assert form.locator("input[name=csrfmiddlewaretoken]").count() == 1
    assert form.get_by_role("button", name="Log in").is_visible()

    shot = tmp_path / "login.png"
    browser_page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 2_000  # a blank or failed render is a few hundred bytes


@pytest.mark.django_db
def test_orm_works_in_the_test_thread_while_a_page_is_open(live_server, browser_page):
    # Playwright's sync API leaves an asyncio loop running in this thread; without
    # DJANGO_ALLOW_ASYNC_UNSAFE (tests/browser.py) these calls raise SynchronousOnlyOperation.
    browser_page.goto(f"{live_server.url}/login")
    before = User.objects.count()
    UserFactory(username="browser-smoke")
    assert User.objects.count() == before + 1
    assert browser_page.title() == "Log in"  # the page is still usable afterwards


class _HostRecorder(BaseHTTPRequestHandler):
    hosts: list[str]

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host", ""))  # type: ignore[attr-defined]
        body = b"<!doctype html><title>probe</title><p>ok</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def host_recorder() -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.1 that records the Host header of every request."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _HostRecorder)
    server.hosts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_chromium_resolves_workspace_localhost_hosts_to_loopback(browser_page, host_recorder):
    port = host_recorder.server_address[1]
    url = localhost_url(f"http://127.0.0.1:{port}", "alice--vscode.localhost", "/probe")
    assert url == f"http://alice--vscode.localhost:{port}/probe"

    response = browser_page.goto(url)

    assert response is not None and response.status == 200
    assert browser_page.title() == "probe"
    assert host_recorder.hosts, "the server received no request"
    assert host_recorder.hosts[0] == f"alice--vscode.localhost:{port}"
