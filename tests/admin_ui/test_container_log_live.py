"""The admin's container log page follows the container's output in Chromium: the last lines, then
new ones as the container writes them, with ANSI colours as spans and the tail in view (issue #15)."""

from __future__ import annotations

import io
import json
import uuid

import docker
import pytest

from containers.models import Workspace, WorkspaceStatus
from servers.clients.agent import AgentClient
from servers.models import Server, ServerStatus
from tests.browser import admin_log_in
from tests.factories import UserFactory
from tests.services import require_docker

pytestmark = pytest.mark.docker


@pytest.fixture
def colourful_image():
    require_docker()
    client = docker.from_env(timeout=120)
    tag = f"mgmt-test/colourful-{uuid.uuid4().hex[:8]}:1"
    line = r"printf '\033[32mgreen-%s\033[0m <b>bold?</b>\n' $i"
    script = f"i=0; while true; do i=$((i+1)); {line}; sleep 0.3; done"
    dockerfile = f"FROM mgmt-test/base:latest\nCMD {json.dumps(['sh', '-c', script])}\n"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    yield tag
    for container in client.containers.list(all=True, filters={"ancestor": tag}):
        container.remove(force=True)
    client.images.remove(tag, force=True)
    client.close()


@pytest.mark.django_db(transaction=True)
def test_the_container_log_page_follows_the_container(
    live_server,
    browser_page,
    agent_factory,
    colourful_image,
):
    agent = agent_factory()
    server = Server.objects.create(
        name=f"log-host-{uuid.uuid4().hex[:6]}", address="127.0.0.1", agent_port=agent.port,
        agent_secret=agent.secret, status=ServerStatus.ONLINE,
    )  # fmt: skip
    created = AgentClient.for_server(server).create_container({"name": "logs-live", "image": colourful_image})
    workspace = Workspace.objects.create(
        owner=UserFactory(username="lena"), server=server, image=colourful_image,
        status=WorkspaceStatus.ACTIVE, container_name=created["name"],
    )  # fmt: skip
    admin = UserFactory(admin=True)
    page = browser_page
    admin_log_in(page, live_server.url, admin.email)
    page.goto(f"{live_server.url}/admin/containers/workspace/{workspace.pk}/logs/?tail=5")
    page.wait_for_selector("#container-log span.ansi-32")

    def numbers() -> list[int]:
        return [
            int(text.split("-")[1]) for text in page.locator("#container-log span.ansi-32").all_inner_texts()
        ]

    later = max(numbers()) + 8  # about 2.4 s on: written after the page was rendered
    page.wait_for_function(
        f"() => document.querySelector('#container-log').textContent.includes('green-{later}')", timeout=15000
    )
    shown = numbers()
    assert shown == list(range(shown[0], shown[0] + len(shown)))  # polled on: no gap, no repeat
    assert page.locator("#container-log b").count() == 0 and "\x1b" not in page.inner_text("#container-log")
    at_bottom = "(() => { const b = document.getElementById('container-log');"
    at_bottom += " return b.scrollHeight - b.scrollTop - b.clientHeight < 8; })()"
    assert page.evaluate(at_bottom)
