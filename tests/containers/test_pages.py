"""The pages for people, and the browser round trip: workspace URL → log-in page → back."""

from __future__ import annotations

import re

import pytest
import requests
from django.test import Client

from accounts.models import User, UserStatus
from containers.models import WorkspaceStatus
from containers.services import workspace_approve
from tests.containers.stack import unique_username
from tests.factories import TEST_PASSWORD, UserFactory
from tests.net import wait_until


def _csrf(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.mark.django_db
def test_sign_up_page_creates_a_pending_account_and_login_refuses_it_until_approved():
    client = Client()
    assert client.get("/register").status_code == 200
    answer = client.post(
        "/register", {"email": "pia@example.com", "username": "pia", "password": TEST_PASSWORD}
    )
    assert answer.status_code == 302 and answer["Location"] == "/login"
    assert User.objects.get(username="pia").status == UserStatus.PENDING
    refused = client.post("/login", {"email": "pia@example.com", "password": TEST_PASSWORD})
    assert refused.status_code == 403 and b"waiting for an operator" in refused.content
    bad = client.post("/register", {"email": "x@example.com", "username": "../x", "password": TEST_PASSWORD})
    assert bad.status_code == 400 and b"username" in bad.content


@pytest.mark.django_db
def test_login_sets_the_cookie_my_workspace_page_and_logout():
    UserFactory(username="quinn")
    client = Client()
    answer = client.post(
        "/login", {"email": "quinn@example.com", "password": TEST_PASSWORD, "next": "//evil.example/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/workspace"  # no open redirect
    assert answer.cookies["mgmt_token"]["httponly"]
    page = client.get("/workspace")
    assert page.status_code == 200 and b"no workspace yet" in page.content
    assert client.post("/logout").status_code == 302
    assert client.get("/workspace")["Location"] == "/login?next=/workspace"


@pytest.mark.docker
@pytest.mark.nginx
def test_browser_goes_to_login_and_comes_back_then_uses_the_buttons(stack):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("b"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=user)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason

    browser = requests.Session()
    browser.headers["Accept"] = "text/html"
    target = f"/{user.username}/vscode/"
    # nginx reloads asynchronously: wait until the new route answers (302 for a browser).
    assert wait_until(
        lambda: (
            browser.get(stack.nginx.base_url + target, allow_redirects=False, timeout=10).status_code == 302
        ),
        timeout=20,
    )
    first = browser.get(stack.nginx.base_url + target, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and first.headers["Location"].endswith(f"/login?next={target}")
    login = browser.get(stack.nginx.base_url + f"/login?next={target}", timeout=10)
    assert login.status_code == 200
    back = browser.post(
        stack.nginx.base_url + "/login",
        data={
            "email": user.email,
            "password": TEST_PASSWORD,
            "next": target,
            "csrfmiddlewaretoken": _csrf(login.text),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert back.status_code == 302 and back.headers["Location"] == target
    assert stack.status_becomes(target, browser.cookies["mgmt_token"], 200)
    assert "vscode stand-in" in browser.get(stack.nginx.base_url + target, timeout=10).text

    page = browser.get(stack.nginx.base_url + "/workspace", timeout=10)
    assert "Active" in page.text and f'href="{target}"' in page.text
    stopped = browser.post(
        stack.nginx.base_url + "/workspace/stop", data={"csrfmiddlewaretoken": _csrf(page.text)}, timeout=30
    )
    assert "Workspace stop done." in stopped.text and "Stopped" in stopped.text
