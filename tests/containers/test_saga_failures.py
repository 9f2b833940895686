"""A real fault at each step of the provisioning saga: nothing is left behind, the workspace is
`failed` with the reason, and approving again succeeds once the fault is gone."""

from __future__ import annotations

import socket
import subprocess

import pytest
from django.utils import timezone

from accounts.services import session_create
from audit.models import AuditLog
from containers.models import PortHold, Workspace, WorkspaceStatus
from containers.nginx import check_user_exists
from containers.services import workspace_approve, workspace_user_delete
from registry.models import AllowedImage
from servers.clients.agent import AgentClient
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
    assert not check_user_exists(username=user.username)
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
    assert stack.ws_becomes(user.username, "vscode", stack.edge_login(token, user.username), 200)
    assert (
        AuditLog.objects.filter(action_type="workspace.provision", target_id=str(workspace.pk)).count() == 1
    )


def test_agent_down_before_create(stack, agent_factory):
    # The host's agent is the first thing the saga asks (it makes the folder): nothing is made.
    stack.agent.stop(remove_containers=False)
    workspace, (admin, user) = approve_fails(stack, "folder", "unreachable")
    assert not (stack.deploy / user.username).exists()
    stack.agent = agent_factory(
        workspace_root=stack.deploy, workspace_template=stack.template, port=stack.agent.port,
        secret=stack.agent.secret, label_prefix=stack.agent.label_prefix,
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


@pytest.fixture
def silent_image(tmp_path) -> str:
    """A container that runs but whose apps never answer."""
    name = "mgmt-test/silent:latest"
    (tmp_path / "Dockerfile").write_text('FROM mgmt-test/base:latest\nCMD ["sleep", "3600"]\n')
    subprocess.run(
        ["docker", "build", "-q", "-t", name, str(tmp_path)],
        check=True, capture_output=True, timeout=300, env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return name


def test_apps_that_never_answer_roll_back_with_the_reason(stack, settings, silent_image):
    settings.WORKSPACE_READY_TIMEOUT = 3
    AllowedImage.objects.create(name=silent_image)
    AllowedImage.objects.create(name=WORKSPACE_IMAGE, is_default=True)
    workspace, (admin, user) = approve_fails(
        stack, "ready", "VS Code and Jupyter did not answer within 3 s", image=silent_image
    )
    settings.WORKSPACE_READY_TIMEOUT = 30
    retry_succeeds(stack, workspace, admin, user, image=WORKSPACE_IMAGE)


def test_a_host_port_held_by_something_else_is_avoided(stack, settings):
    # Three ports to choose from and one of them taken on the host: the agent's 409 makes the
    # platform reserve again without it.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        settings.WORKSPACE_HOST_PORTS = f"{port}-{port + 2}"
        for other in (port + 1, port + 2):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", other)) == 0:
                    pytest.fail(f"port {other} is in use here; the test needs it free")
        tries: list[dict] = []
        real_create = AgentClient.create_container

        def recording(self, config):
            tries.append(dict(config["ports"]))
            return real_create(self, config)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(AgentClient, "create_container", recording)
            for _ in range(5):  # random picks: make the held port come up at least once
                admin = UserFactory(username=unique_username("ad"), admin=True)
                user = UserFactory(username=unique_username("u"), pending=True)
                workspace, _ = workspace_approve(actor=admin, user=user)
                workspace.refresh_from_db()
                assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
                assert port not in (workspace.vscode_port, workspace.jupyter_port)
                if any(port in t.values() for t in tries):
                    break
                assert workspace_user_delete(actor=admin, user=user) is True  # frees both ports
                # ... once nginx can no longer hold them cached (tests/containers/test_port_hold.py)
                PortHold.objects.update(until=timezone.now())
            assert any(port in t.values() for t in tries), tries
