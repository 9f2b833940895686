"""A workspace's live progress: the saga publishes each step, nginx passes the Server-Sent
Events on unbuffered, a reconnect resumes, and the owner's page follows them to VS Code."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from accounts.services import session_create
from containers.models import Workspace, WorkspaceStatus
from containers.services import workspace_approve
from events.models import EventKind, JobEvent
from events.services import event_publish, job_key
from tests.containers.stack import unique_username
from tests.factories import TEST_PASSWORD, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.nginx]


def _provisioning(username: str) -> tuple[Workspace, str]:
    owner = UserFactory(username=username)
    workspace = WorkspaceFactory(owner=owner, name="default", status=WorkspaceStatus.PROVISIONING)
    return workspace, session_create(user=owner)[1]


def test_events_pass_nginx_as_they_happen_and_a_reconnect_resumes(edge_stack, settings):
    settings.EVENTS_STREAM_SECONDS = 20
    workspace, token = _provisioning(unique_username("sse"))
    job = job_key("workspace", workspace.pk)
    url = f"{edge_stack.nginx.platform_url}/events/workspace/{workspace.pk}"
    cookies = {settings.SESSION_COOKIE_NAME_WORKSPACE: token}
    lines: list[tuple[float, str]] = []

    def read() -> None:
        with requests.get(url, cookies=cookies, stream=True, timeout=30) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines(decode_unicode=True):
                lines.append((time.monotonic(), line))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(1)
    first = event_publish(job=job, kind=EventKind.STEP, text="Creating the container", index=2, total=5)
    sent = time.monotonic()
    deadline = sent + 5
    while not any("Creating the container" in line for _, line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    arrived = next(at for at, line in lines if "Creating the container" in line)
    assert arrived - sent < 2  # not held back in nginx's buffer until the end
    event_publish(job=job, kind=EventKind.DONE, text="ready")
    reader.join(timeout=10)
    assert not reader.is_alive()  # the stream ends with the job
    assert f"id: {first.pk}" in [line for _, line in lines]

    resumed = requests.get(url, cookies=cookies, headers={"Last-Event-ID": str(first.pk)}, timeout=30)
    assert "Creating the container" not in resumed.text and "event: done" in resumed.text
    stranger = session_create(user=UserFactory())[1]
    refused = requests.get(url, cookies={settings.SESSION_COOKIE_NAME_WORKSPACE: stranger}, timeout=10)
    assert refused.status_code == 404


@pytest.mark.docker
def test_the_saga_publishes_every_step_then_done(stack):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    person = UserFactory(username=unique_username("st"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=person)  # eager here: the saga runs now
    events = JobEvent.objects.filter(job=job_key("workspace", workspace.pk)).order_by("id")
    assert [(e.kind, e.data.get("step")) for e in events] == [
        ("step", "folder"),
        ("step", "container"),
        ("step", "ports"),
        ("step", "routes"),
        ("step", "ready"),
        ("done", None),
    ]
    assert events.last().data["next"] == f"http://{stack.nginx.host(person.username, 'vscode')}/"


def test_the_owners_page_shows_each_step_then_opens_the_app(edge_stack, browser_page):
    username = unique_username("pg")
    workspace, _ = _provisioning(username)
    job = job_key("workspace", workspace.pk)
    page = browser_page
    page.goto(f"{edge_stack.nginx.platform_url}/login")
    page.fill("#email", f"{username}@example.com")
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{edge_stack.nginx.platform_url}/workspace")
    page.wait_for_function("document.querySelector('#live') !== null")
    time.sleep(1)  # the EventSource is connected
    event_publish(job=job, kind=EventKind.STEP, text="Creating the container", index=2, total=5)
    page.wait_for_selector("#live-log li:has-text('Creating the container')", timeout=10000)
    assert page.get_attribute("#live-bar", "value") == "1"
    ready_url = f"{edge_stack.nginx.platform_url}/workspace?opened=1"
    event_publish(job=job, kind=EventKind.DONE, text="VS Code and Jupyter answer", next=ready_url)
    page.wait_for_url(ready_url, timeout=10000)
