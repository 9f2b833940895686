"""The pages for people, and the browser round trip: workspace URL → log-in page → back."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User, UserStatus
from containers.models import WorkspaceStatus
from containers.services import workspace_approve
from tests.containers.stack import unique_username
from tests.factories import TEST_PASSWORD, UserFactory, WorkspaceFactory


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


def _owner_logged_in(username: str, status: str):
    """A person with a workspace in `status`, and a browser-like client logged in as them."""

    person = UserFactory(username=username)
    workspace = WorkspaceFactory(owner=person, name="default", status=status)
    client = Client()
    client.post("/login", {"email": f"{username}@example.com", "password": TEST_PASSWORD})
    return workspace, client


@pytest.mark.django_db
def test_my_workspace_page_shows_each_provisioning_step_as_it_runs():
    from containers.models import Workspace

    workspace, client = _owner_logged_in("rhea", WorkspaceStatus.PROVISIONING)
    for step, done, current in (("folder", 0, "Workspace folder"), ("routes", 3, "Routes at the edge")):
        Workspace.objects.filter(pk=workspace.pk).update(step=step)
        html = client.get("/workspace").content.decode()
        assert '<meta http-equiv="refresh"' in html  # it refreshes itself until it is done
        assert html.count('class="step-done"') == done
        assert re.search(rf'class="step-current">[^<]*{current}', html), html
    Workspace.objects.filter(pk=workspace.pk).update(status=WorkspaceStatus.ACTIVE, step="")
    assert 'id="progress"' not in client.get("/workspace").content.decode()


@pytest.mark.django_db
def test_my_workspace_page_warns_before_the_idle_stop(settings):
    from datetime import timedelta

    from django.utils import timezone

    from containers.models import RouteActivity, Workspace

    settings.WORKSPACE_IDLE_STOP_MINUTES = 60
    workspace, client = _owner_logged_in("ivo", WorkspaceStatus.ACTIVE)
    person = workspace.owner
    assert 'id="idle-warning"' not in client.get("/workspace").content.decode()  # just started
    long_ago = timezone.now() - timedelta(minutes=45)
    Workspace.objects.filter(pk=workspace.pk).update(updated_at=long_ago)
    RouteActivity.objects.create(user=person, last_request_at=long_ago)
    html = client.get("/workspace").content.decode()
    assert re.search(r'id="idle-warning"[^>]*>Stops 1[45]\xa0minutes from now if it stays unused', html), html
    RouteActivity.objects.filter(user=person).update(last_request_at=timezone.now())  # used again
    assert 'id="idle-warning"' not in client.get("/workspace").content.decode()


@pytest.mark.docker
@pytest.mark.nginx
def test_my_workspace_page_in_chromium_opens_the_apps_and_its_buttons_work(stack, browser_page):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("b"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=user)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason

    page = browser_page
    page.goto(f"{stack.nginx.platform_url}/workspace")
    assert page.url == f"{stack.nginx.platform_url}/login?next=/workspace"
    page.fill("#email", user.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.nginx.platform_url}/workspace")
    assert page.inner_text("#status") == "Active"
    vscode = f"http://{stack.nginx.host(user.username, 'vscode')}/"
    assert page.get_attribute("#open-vscode", "href") == vscode
    page.click("#open-vscode")
    page.wait_for_url(vscode)
    assert "vscode stand-in" in page.content()

    page.goto(f"{stack.nginx.platform_url}/workspace")
    page.click("text=Stop")
    page.wait_for_selector("text=Workspace stop done.")
    assert page.inner_text("#status") == "Stopped"
    page.click("text=Start")
    # Starting until both apps answer: the page follows the live stream and opens VS Code when
    # it is ready (or, were it ready before the page was drawn, says Active at once).
    page.wait_for_function(
        "([url]) => window.location.href === url"
        " || document.querySelector('#status')?.innerText === 'Active'",
        arg=[vscode],
        timeout=30000,
    )
    page.goto(vscode)
    assert "vscode stand-in" in page.content()


@pytest.mark.django_db
def test_a_queued_workspace_with_no_worker_says_so(settings):
    """Issue #15: with no worker, the page no longer says "queued" forever without a word."""
    from django.core.cache import cache

    from mgmt.tasks import heartbeat, heartbeat_key

    settings.CELERY_TASK_ALWAYS_EAGER = False
    cache.delete(heartbeat_key("provisioning"))
    _, client = _owner_logged_in("wanda", WorkspaceStatus.PENDING)
    assert 'id="no-worker"' in client.get("/workspace").content.decode()
    heartbeat("provisioning")  # a worker of the queue answers
    assert 'id="no-worker"' not in client.get("/workspace").content.decode()


@pytest.mark.docker
@pytest.mark.nginx
def test_opening_a_stopped_workspace_in_chromium_leads_to_its_page_and_start(stack, browser_page):
    """Issue #15: no bare 502 for a stopped workspace; its page says why and starts it."""
    from containers.services import workspace_stop

    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("s"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=user)
    page = browser_page
    vscode = f"http://{stack.nginx.host(user.username, 'vscode')}/"
    page.goto(vscode)  # the handshake: log in, then back to VS Code
    page.fill("#email", user.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(vscode)
    workspace.refresh_from_db()
    workspace_stop(actor=admin, workspace=workspace)

    page.goto(vscode)
    page.wait_for_url(re.compile(r".*/workspace\?unavailable="), timeout=30000)
    assert "VS Code is not reachable: your workspace is stopped." in page.inner_text("#unavailable")
    page.click("button:text-is('Start')")
    page.wait_for_function(
        "([url]) => window.location.href === url"
        " || document.querySelector('#status')?.innerText === 'Active'",
        arg=[vscode],
        timeout=30000,
    )
    page.goto(vscode)
    assert "vscode stand-in" in page.content()
