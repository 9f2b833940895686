from __future__ import annotations

import pytest
from django.test import Client

from containers.models import Workspace, WorkspaceStatus
from servers.models import ServerStatus
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory


@pytest.fixture
def admin_client_(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
def test_pending_list_and_approve_action_with_resources(admin_client_, django_capture_on_commit_callbacks):
    server = ServerFactory(
        name="adm-host", agent_port=1, status=ServerStatus.ONLINE, memory_total=8 * 1024**3
    )
    carol = UserFactory(username="carol", pending=True)
    UserFactory(username="dan")  # active: not in the pending list
    page = admin_client_.get("/admin/containers/pendinguser/")
    assert page.status_code == 200 and b"carol" in page.content and b"dan" not in page.content

    form = admin_client_.post(
        "/admin/containers/pendinguser/", {"action": "approve", "_selected_action": [carol.pk]}
    )
    assert form.status_code == 200 and b"Approve sign-ups" in form.content
    with django_capture_on_commit_callbacks(execute=False) as queued:
        admin_client_.post(
            "/admin/containers/pendinguser/",
            {
                "action": "approve", "_selected_action": [carol.pk], "apply": "1",
                "server": server.pk, "cpu": "2", "memory": "1g", "gpus": "0",
                "image": "mgmt-test/workspace:latest",
            },
        )  # fmt: skip
    workspace = Workspace.objects.get(owner=carol)
    assert (workspace.server, workspace.cpu, workspace.memory) == (server, 2.0, 1024**3)
    assert workspace.status == WorkspaceStatus.PENDING and len(queued) == 1


@pytest.mark.django_db
def test_workspace_list_shows_status_and_start_reports_unreachable_agent(admin_client_):
    server = ServerFactory(name="adm2", agent_port=1)  # nothing answers on port 1
    workspace = WorkspaceFactory(
        owner__username="erin", server=server, status=WorkspaceStatus.STOPPED, container_name="erin"
    )
    page = admin_client_.get("/admin/containers/workspace/")
    assert page.status_code == 200 and b"erin" in page.content
    answer = admin_client_.post(
        "/admin/containers/workspace/", {"action": "start", "_selected_action": [workspace.pk]}, follow=True
    )
    assert b"unreachable" in answer.content


@pytest.mark.django_db
def test_qvp_sees_neither_list(qvp_user):
    client = Client()
    client.force_login(qvp_user)
    assert client.get("/admin/containers/pendinguser/").status_code == 403
    assert client.get("/admin/containers/workspace/").status_code == 403


@pytest.mark.docker
def test_the_approve_form_flags_an_image_no_host_has(stack, settings):
    """Issue #15: an allowed image that is on no schedulable host is offered with a warning."""
    from containers.admin import ApproveForm
    from registry.models import AllowedImage

    AllowedImage.objects.create(name="mgmt-test/workspace:latest")
    AllowedImage.objects.create(name="nowhere/ide:9")
    labels = dict(ApproveForm().fields["image"].choices)
    assert labels["mgmt-test/workspace:latest"] == f"mgmt-test/workspace:latest — on {stack.server.name}"
    assert labels["nowhere/ide:9"] == "nowhere/ide:9 — ⚠ on no host: pull or build it first"
