"""A service's refusal in an admin form or action is a form error or an error message, never a
500: every form and action of */admin.py that calls a service, given input the service refuses.

Not here, because their services refuse nothing an operator can send: revoking sessions, deleting
guest uploads, draining/undraining a server and polling it (the action list of a qvp, who would
be refused, no longer offers them), and re-running the reconciler (it only queues a task).
"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from accounts.models import UserStatus
from audit.models import AuditLog
from builds.models import Build, BuildStatus, Project
from builds.services import builds as build_services
from containers.models import Workspace, WorkspaceStatus
from maintenance.models import CleanupPolicy
from mgmt.exceptions import Conflict
from registry.models import Registry
from servers.models import Server
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def errors(response) -> list[str]:
    """The error messages the response left for the next page (earlier ones first)."""
    return [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "error"]


@pytest.fixture
def no_local_registries(settings) -> None:
    settings.REGISTRY_ALLOW_LOCAL_TARGETS = False


@pytest.fixture
def server() -> Server:
    return ServerFactory(name="h1", address="192.0.2.9", agent_port=5005)


# --- forms -----------------------------------------------------------------------------------------
def test_adding_a_registry_with_a_loopback_url_is_a_form_error(admin_browser, no_local_registries):
    form = {"name": "loop", "url": "http://127.0.0.1:5000", "username": "bot", "verify_tls": "on"}
    page = admin_browser.post("/admin/registry/registry/add/", form)
    assert page.status_code == 200
    html = page.content.decode()
    assert "resolves to a local address" in html and 'value="loop"' in html  # the form, as typed
    assert not Registry.objects.exists() and not AuditLog.objects.exists()


def test_changing_a_registry_to_a_loopback_url_is_a_form_error(admin_browser, no_local_registries):
    registry = Registry.objects.create(name="team", url="https://192.0.2.3")
    form = {"name": "team", "url": "http://localhost:5000", "verify_tls": "on"}
    page = admin_browser.post(f"/admin/registry/registry/{registry.pk}/change/", form)
    assert page.status_code == 200 and "resolves to a local address" in page.content.decode()
    registry.refresh_from_db()
    assert registry.url == "https://192.0.2.3" and not AuditLog.objects.exists()


def test_registering_an_agent_twice_is_a_form_error(admin_browser, server):
    form = {
        "name": "other", "address": server.address, "agent_port": str(server.agent_port),
        "new_agent_secret": "t" * 32, "ssh_port": "22", "labels": "{}",
    }  # fmt: skip
    page = admin_browser.post("/admin/servers/server/add/", form)
    assert page.status_code == 200 and "is already registered" in page.content.decode()
    assert Server.objects.count() == 1


def test_a_refused_account_change_is_a_form_error(admin_browser, alice):
    form = {"redirect_url": "javascript:alert(1)", "metadata": "{}"}
    page = admin_browser.post(f"/admin/accounts/user/{alice.pk}/change/", form)
    assert page.status_code == 200 and "redirect_url: must be a path" in page.content.decode()
    alice.refresh_from_db()
    assert alice.redirect_url == ""


def test_a_project_member_who_is_not_an_operator_is_a_form_error(admin_browser, alice):
    page = admin_browser.post("/admin/builds/project/add/", {"name": "vision", "members": [alice.pk]})
    assert page.status_code == 200 and "is not an active operator" in page.content.decode()
    assert not Project.objects.exists() and not AuditLog.objects.exists()  # the whole save was undone


def test_a_refused_cleanup_policy_is_a_form_error(admin_browser):
    form = {"prune_unused_images": "on", "image_prune_repositories": "team/, ../etc"}
    page = admin_browser.post("/admin/maintenance/cleanuppolicy/add/", form)
    assert page.status_code == 200 and "is not a repository prefix" in page.content.decode()
    assert not CleanupPolicy.objects.exists()


# --- deletes ---------------------------------------------------------------------------------------
def test_deleting_yourself_is_a_message(admin_browser, admin_user):
    response = admin_browser.post(f"/admin/accounts/user/{admin_user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert errors(response) == ["You cannot delete your own account."]
    bulk = admin_browser.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [admin_user.pk], "post": "yes"},
    )
    assert bulk.status_code == 302 and errors(bulk)[-1] == "You cannot delete your own account."
    assert type(admin_user).objects.filter(pk=admin_user.pk).exists()


def test_deleting_a_project_with_a_running_build_is_a_message(admin_browser, server):
    project = Project.objects.create(name="vision")
    Build.objects.create(
        repository="team/x", reference="team/x:1", source="dockerfile", server=server, project=project,
        status=BuildStatus.RUNNING,
    )  # fmt: skip
    one = admin_browser.post(f"/admin/builds/project/{project.pk}/delete/", {"post": "yes"})
    assert one.status_code == 302 and "still queued or running" in errors(one)[0]
    bulk = admin_browser.post(
        "/admin/builds/project/",
        {"action": "delete_selected", "_selected_action": [project.pk], "post": "yes"},
    )
    assert bulk.status_code == 302 and "still queued or running" in errors(bulk)[-1]
    assert Project.objects.filter(pk=project.pk).exists()


# --- actions ---------------------------------------------------------------------------------------
def test_disabling_yourself_or_enabling_a_pending_sign_up_is_a_message(admin_browser, admin_user):
    own = admin_browser.post(
        "/admin/accounts/user/", {"action": "disable_accounts", "_selected_action": [admin_user.pk]}
    )
    assert own.status_code == 302 and "cannot disable your own account" in errors(own)[0]
    carol = UserFactory(username="carol", pending=True)
    pending = admin_browser.post(
        "/admin/accounts/user/", {"action": "enable_accounts", "_selected_action": [carol.pk]}
    )
    assert pending.status_code == 302 and "Only a disabled account" in errors(pending)[-1]
    carol.refresh_from_db()
    assert carol.status == UserStatus.PENDING


def test_cancelling_a_build_that_finished_meanwhile_is_a_message(admin_browser, server, monkeypatch):
    build = Build.objects.create(
        repository="team/x", reference="team/x:1", source="dockerfile", server=server
    )

    def finished(**kwargs):
        raise Conflict("The build is succeeded already.")

    monkeypatch.setattr(build_services, "build_cancel", finished)
    response = admin_browser.post(
        "/admin/builds/build/", {"action": "cancel_builds", "_selected_action": [build.pk]}
    )
    assert response.status_code == 302
    assert errors(response) == ["team/x:1: The build is succeeded already."]


def test_an_ssh_check_without_an_ssh_user_is_a_message(admin_browser, server):
    response = admin_browser.post(
        "/admin/servers/server/", {"action": "ssh_check", "_selected_action": [server.pk]}
    )
    assert response.status_code == 302 and errors(response) == ["h1: No SSH user is set for h1."]


def test_approving_with_no_server_that_fits_is_a_message(admin_browser):
    carol = UserFactory(username="carol", pending=True)
    response = admin_browser.post(
        "/admin/containers/pendinguser/",
        {
            "action": "approve", "_selected_action": [carol.pk], "apply": "1",
            "cpu": "1", "memory": "1g", "gpus": "0", "image": "mgmt-test/workspace:latest",
        },
    )  # fmt: skip
    assert response.status_code == 302 and errors(response)[0].startswith("carol: ")
    carol.refresh_from_db()
    assert carol.status == UserStatus.PENDING and not Workspace.objects.exists()


@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_operating_a_workspace_that_is_being_provisioned_is_a_message(admin_browser, server, action):
    workspace = WorkspaceFactory(
        owner__username="erin", server=server, status=WorkspaceStatus.PROVISIONING, container_name="erin"
    )
    response = admin_browser.post(
        "/admin/containers/workspace/", {"action": action, "_selected_action": [workspace.pk]}
    )
    assert response.status_code == 302 and errors(response)[0].startswith("erin")
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.PROVISIONING
