"""End to end on the real stack: approve → container → routes → only the owner gets in → delete."""

from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from accounts.models import User, UserStatus
from accounts.services import session_create
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from containers.nginx import check_user_exists
from containers.services import (
    workspace_approve,
    workspace_restart,
    workspace_start,
    workspace_stop,
    workspace_user_delete,
)
from tests.containers.stack import unique_username
from tests.factories import UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx]


def test_approve_open_operate_delete(stack):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    name = unique_username("al")
    alice = UserFactory(username=name, pending=True)
    bob = UserFactory(username=unique_username("bo"))
    alice_token, bob_token = session_create(user=alice)[1], session_create(user=bob)[1]

    workspace, queued = workspace_approve(actor=admin, user=alice)
    assert queued
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    alice.refresh_from_db()
    assert alice.status == UserStatus.ACTIVE and alice.is_approved
    assert alice.redirect_url == f"http://{stack.nginx.host(name, 'vscode')}/"
    assert alice.metadata["workspace"]["vscode_port"] == workspace.vscode_port
    assert (stack.deploy / name / "README.txt").exists()
    assert check_user_exists(username=name)
    assert stack.containers() == [f"{stack.agent.label_prefix}-{name}"]

    # The container runs as the workspace user, who owns the folder and can write in it.
    made = subprocess.run(
        ["docker", "exec", workspace.container_name, "sh", "-c", "id -u; touch /workspace/new.ipynb"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert made.returncode == 0 and made.stdout.split()[0] == str(settings.WORKSPACE_UID), made.stderr
    assert (stack.deploy / name / "new.ipynb").stat().st_uid == settings.WORKSPACE_UID

    cookie = stack.edge_login(alice_token, name, "vscode")
    vscode = stack.ws(name, "vscode", "/", cookie)
    assert vscode.status_code == 200 and "vscode stand-in" in vscode.text and name in vscode.text
    # The cookie belongs to one host: Jupyter needs its own handshake.
    assert stack.ws(name, "jupyter", "/", cookie).status_code == 401
    jupyter_cookie = stack.edge_login(alice_token, name, "jupyter")
    jupyter = stack.ws(name, "jupyter", "/", jupyter_cookie)
    assert jupyter.status_code == 200 and "jupyter stand-in" in jupyter.text
    # Bob is refused at the platform; nobody without a cookie gets in; browsers are sent to sign in.
    refused = stack.ws(name, "vscode", "/", None, Accept="text/html")
    assert refused.status_code == 302 and "/edge/authorize?host=" in refused.headers["Location"]
    authorize = urlsplit(refused.headers["Location"])
    bob_try = stack.get(f"{authorize.path}?{authorize.query}", bob_token)
    assert bob_try.status_code == 403 and "not yours" in bob_try.text
    assert stack.ws(name, "vscode").status_code == 401
    # The old path routes redirect to the app's host.
    old = stack.get(f"/{name}/jupyter/lab?x=1")
    assert old.status_code == 302
    assert old.headers["Location"] == f"http://{stack.nginx.host(name, 'jupyter')}/lab?x=1"

    # Approving again changes nothing: still one container, one route, one audit row.
    assert workspace_approve(actor=admin, user=alice) == (Workspace.objects.get(pk=workspace.pk), False)
    assert len(stack.containers()) == 1
    assert (
        AuditLog.objects.filter(action_type="workspace.provision", target_id=str(workspace.pk)).count() == 1
    )

    workspace = workspace_stop(actor=alice, workspace=workspace)
    assert workspace.status == WorkspaceStatus.STOPPED
    assert stack.ws_becomes(name, "vscode", cookie, 502)
    workspace = workspace_start(actor=alice, workspace=workspace)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    assert stack.ws_becomes(name, "vscode", cookie, 200)
    workspace = workspace_restart(actor=admin, workspace=workspace)
    assert stack.ws_becomes(name, "jupyter", jupyter_cookie, 200)

    assert workspace_user_delete(actor=admin, user=alice, delete_folder=True) is True
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not check_user_exists(username=name)
    assert not (stack.deploy / name).exists()
    assert stack.containers() == []
    actions = set(
        AuditLog.objects.filter(target_id__in=[str(alice.pk), str(workspace.pk)]).values_list(
            "action_type", flat=True
        )
    )
    assert {
        "user.approve",
        "workspace.approve",
        "workspace.provision",
        "workspace.stop",
        "workspace.start",
        "workspace.restart",
        "user.delete_requested",
        "user.delete",
    } <= actions
    # The edge session died with the account (within the auth cache's TTL).
    assert stack.ws_becomes(name, "vscode", cookie, 401, timeout=settings.EDGE_AUTH_CACHE_SECONDS + 10)


def test_delete_with_agent_down_stays_deleting_then_retry_finishes(stack, agent_factory):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("u"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=user)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason

    stack.agent.stop(remove_containers=False)
    assert workspace_user_delete(actor=admin, user=user, delete_folder=False) is True
    user.refresh_from_db()
    workspace.refresh_from_db()
    assert user.status == UserStatus.DELETING
    assert workspace.status == WorkspaceStatus.DELETING
    assert workspace.status_reason.startswith("container:") and "unreachable" in workspace.status_reason
    assert not check_user_exists(username=user.username)  # routes go first
    assert AuditLog.objects.filter(action_type="user.delete_failed", target_id=str(user.pk)).count() == 1

    stack.agent = agent_factory(
        workspace_root=stack.deploy, port=stack.agent.port, secret=stack.agent.secret,
        label_prefix=stack.agent.label_prefix,
    )  # fmt: skip
    assert workspace_user_delete(actor=admin, user=user) is True
    assert not User.objects.filter(pk=user.pk).exists()
    assert stack.containers() == []
    assert (stack.deploy / user.username).is_dir()  # the folder is kept unless asked
