"""A real fault at each step of the provisioning saga: nothing is left behind, the workspace is
`failed` with the reason, and approving again succeeds once the fault is gone."""

from __future__ import annotations

import subprocess

import pytest

from accounts.services import session_create
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from containers.services import workspace_approve
from registry.models import AllowedImage
from servers.agent_client import AgentClient
from tests.agent_process import managed_container_names
from tests.containers.stack import Stack, unique_username
from tests.factories import UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]

WORKSPACE_IMAGE = "mgmt-test/workspace:latest"


def docker_names(stack) -> list[str]:
    return managed_container_names(stack.agent.label_prefix)


def approve_fails(stack: Stack, step: str, match: str, **kwargs) -> tuple[Workspace, object]:
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("u"), pending=True)
    workspace, queued = workspace_approve(actor=admin, user=user, **kwargs)
    assert queued
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.FAILED
    assert workspace.status_reason.startswith(f"{step}:"), workspace.status_reason
    assert match in workspace.status_reason, workspace.status_reason
    # Nothing left behind.
    assert docker_names(stack) == []
    assert not (stack.routes / f"{user.username}.conf").exists()
    assert not (stack.deploy / user.username).exists()
    assert workspace.vscode_port is None and workspace.container_id == ""
    assert (
        AuditLog.objects.filter(action_type="workspace.provision_failed", target_id=str(workspace.pk)).count()
        == 1
    )
    assert not AuditLog.objects.filter(
        action_type="workspace.provision", target_id=str(workspace.pk)
    ).exists()
    return workspace, (admin, user)


def retry_succeeds(stack: Stack, workspace: Workspace, admin, user, **kwargs) -> None:
    again, queued = workspace_approve(actor=admin, user=user, **kwargs)
    assert queued and again.pk == workspace.pk
    again.refresh_from_db()
    assert again.status == WorkspaceStatus.ACTIVE, again.status_reason
    assert again.attempts == 2
    assert docker_names(stack) == [f"{stack.agent.label_prefix}-{user.username}"]
    token = session_create(user=user)[1]
    assert stack.status_becomes(f"/{user.username}/vscode/", token, 200)
    assert (
        AuditLog.objects.filter(action_type="workspace.provision", target_id=str(workspace.pk)).count() == 1
    )


def test_agent_down_before_create(stack, agent_factory):
    stack.agent.stop(remove_containers=False)
    workspace, (admin, user) = approve_fails(stack, "container", "unreachable")
    stack.agent = agent_factory(
        workspace_root=stack.deploy, port=stack.agent.port, secret=stack.agent.secret,
        label_prefix=stack.agent.label_prefix,
    )  # fmt: skip
    retry_succeeds(stack, workspace, admin, user)


def test_create_fails_image_missing_on_host(stack):
    missing = f"mgmt-test/missing-{unique_username('i')}:latest"
    AllowedImage.objects.create(name=missing)
    AllowedImage.objects.create(name=WORKSPACE_IMAGE, is_default=True)
    workspace, (admin, user) = approve_fails(stack, "container", "not on this host", image=missing)
    retry_succeeds(stack, workspace, admin, user, image=WORKSPACE_IMAGE)


def test_port_query_fails_container_vanished(stack, monkeypatch):
    # A real fault between the steps: the container is removed from Docker (as an operator or the
    # host's OOM handling might) right after the agent created it, so the port query gets a 404.
    real_create = AgentClient.create_container

    def create_then_vanish(self, config):
        data = real_create(self, config)
        subprocess.run(["docker", "rm", "-f", data["id"]], capture_output=True, timeout=60, check=True)
        return data

    monkeypatch.setattr(AgentClient, "create_container", create_then_vanish)
    workspace, (admin, user) = approve_fails(stack, "ports", "No managed container")
    monkeypatch.setattr(AgentClient, "create_container", real_create)
    retry_succeeds(stack, workspace, admin, user)


def test_nginx_config_test_fails(stack):
    broken = stack.routes / "zz-broken.conf"
    broken.write_text("location /x { this_is_not_a_directive; }\n")
    workspace, (admin, user) = approve_fails(stack, "routes", "configuration test failed")
    broken.unlink()
    retry_succeeds(stack, workspace, admin, user)


def test_nginx_reload_fails(stack, settings):
    reload_command = settings.NGINX_RELOAD_COMMAND
    settings.NGINX_RELOAD_COMMAND = "/bin/false"
    workspace, (admin, user) = approve_fails(stack, "routes", "reload failed")
    settings.NGINX_RELOAD_COMMAND = reload_command
    retry_succeeds(stack, workspace, admin, user)
