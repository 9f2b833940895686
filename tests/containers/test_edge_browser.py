"""The edge as a person meets it, in Chromium (Debian's, driven by Playwright): nginx on a
non-default port, a live Django, a real agent and container."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from accounts.models import User, UserStatus
from tests.containers.test_edge import _active
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx]


def _log_in(page, email: str) -> None:
    page.fill("#email", email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")


def test_anonymous_is_sent_to_log_in_and_lands_back_in_the_workspace(stack, browser_page):
    _, owner, _ = _active(stack)
    workspace_url = f"http://{stack.nginx.host(owner.username, 'vscode')}/index.html?x=1"
    browser_page.goto(workspace_url)
    assert browser_page.url.startswith(f"{stack.nginx.platform_url}/login?next=")
    _log_in(browser_page, owner.email)
    browser_page.wait_for_url(workspace_url)
    assert "vscode stand-in" in browser_page.content()
    assert owner.username in browser_page.content()
    # The edge cookie is HttpOnly and host-only; the platform's cookie never came along.
    cookies = browser_page.context.cookies(workspace_url)
    assert [c["name"] for c in cookies] == [settings.EDGE_COOKIE_NAME]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Lax"
    assert browser_page.evaluate("document.cookie") == ""
    # Jupyter is another origin: its own handshake, no second log-in (the platform remembers).
    jupyter_url = f"http://{stack.nginx.host(owner.username, 'jupyter')}/"
    browser_page.goto(jupyter_url)
    browser_page.wait_for_url(jupyter_url)
    assert "jupyter stand-in" in browser_page.content()


def test_a_workspace_page_cannot_read_the_platform_or_another_workspace(stack, browser_page):
    _, owner, _ = _active(stack)
    _, other, _ = _active(stack)
    # The owner is logged in on the platform and in both workspaces it may enter.
    browser_page.goto(f"{stack.nginx.platform_url}/login")
    _log_in(browser_page, owner.email)
    browser_page.wait_for_url(f"{stack.nginx.platform_url}/**")
    mine = f"http://{stack.nginx.host(owner.username, 'vscode')}/"
    browser_page.goto(mine)
    browser_page.wait_for_url(mine)
    # What a script served from this workspace could try, with the visitor's credentials.
    probe = """async (urls) => {
        const out = {};
        for (const url of urls) {
            try {
                const r = await fetch(url, {credentials: "include"});
                out[url] = "read " + r.status + " " + (await r.text()).slice(0, 80);
            } catch (e) {
                out[url] = "blocked";
            }
        }
        return out;
    }"""
    targets = [
        f"{stack.nginx.platform_url}/api/auth/me",
        f"{stack.nginx.platform_url}/api/admin/users",
        f"http://{stack.nginx.host(owner.username, 'jupyter')}/",
        f"http://{stack.nginx.host(other.username, 'vscode')}/",
    ]
    seen = browser_page.evaluate(probe, targets)
    assert seen == dict.fromkeys(targets, "blocked"), json.dumps(seen, indent=1)
    # Even a simple no-cors request to the platform API carries no session it could use.
    assert browser_page.evaluate("document.cookie") == ""


def test_sign_up_and_log_in_forms_work_through_nginx_on_a_non_default_port(stack, browser_page):
    assert stack.nginx.port not in (80, 443, 8000, 8080)
    base = stack.nginx.platform_url
    browser_page.goto(f"{base}/register")
    browser_page.fill("#email", "newcomer@example.com")
    browser_page.fill("#username", "newcomer")
    browser_page.fill("#password", TEST_PASSWORD)
    browser_page.click("button[type=submit]")
    browser_page.wait_for_url(f"{base}/login")
    assert "Signed up" in browser_page.content()
    assert User.objects.get(username="newcomer").status == UserStatus.PENDING
    person = UserFactory(username="formuser")
    browser_page.goto(f"{base}/login")
    _log_in(browser_page, person.email)
    browser_page.wait_for_url(f"{base}/workspace")
    assert "My workspace" in browser_page.content()
