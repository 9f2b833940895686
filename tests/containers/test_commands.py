from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from servers.models import Server
from tests.containers.stack import unique_username
from tests.factories import UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx]


def test_approve_user_waits_with_progress_then_delete_user(stack):
    user = UserFactory(username=unique_username("c"), pending=True)
    out = StringIO()
    call_command(
        "approve_user", user.email, "--memory", "512m", "--server", stack.server.name, "--wait", stdout=out
    )
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0].strip() for line in lines if "→" in line] == [
        "→ Creating the workspace folder",
        "→ Creating the container",
        "→ Reserving host ports",
        "→ Publishing the routes at the edge",
        "→ Waiting for VS Code and Jupyter to answer",
    ]  # the workspace's live stream, as its owner's page shows it
    assert f"Active: http://{user.username}--vscode.localhost:" in out.getvalue()
    assert Workspace.objects.get(owner=user).status == WorkspaceStatus.ACTIVE

    out = StringIO()
    call_command("delete_user", user.username, "--delete-workspace", "--wait", stdout=out)
    assert [line.strip() for line in out.getvalue().splitlines()] == [
        "→ Removing the routes at the edge (1/3)",
        "→ Removing the container and the folder (2/3)",
        "→ Deleting the account (3/3)",
        f"Deleted {user.username}.",
    ]
    assert not User.objects.filter(pk=user.pk).exists()
    assert stack.containers() == [] and not (stack.deploy / user.username).exists()
    assert AuditLog.objects.filter(action_type="user.delete", target_id=str(user.pk)).exists()


def test_delete_user_wait_names_the_step_that_stopped(stack):
    gone = Server.objects.create(name=f"gone-{unique_username('s')}", address="127.0.0.1", agent_port=1,
                                 agent_secret="s" * 32)  # fmt: skip
    user = UserFactory(username=unique_username("d"))
    Workspace.objects.create(
        owner=user, server=gone, status=WorkspaceStatus.ACTIVE, container_name=user.username
    )
    with pytest.raises(
        CommandError, match=r"^Deleting stopped: container: .*Run the command again to retry\.$"
    ):
        call_command("delete_user", user.username, "--wait", stdout=StringIO())
    assert User.objects.get(pk=user.pk).status == "deleting"  # kept, to be retried


@pytest.mark.django_db
def test_approve_user_names_what_is_wrong():
    with pytest.raises(CommandError, match="No user"):
        call_command("approve_user", "nobody-here")
    UserFactory(username="pat", pending=True)
    with pytest.raises(CommandError, match="No server is online"):
        call_command("approve_user", "pat")
