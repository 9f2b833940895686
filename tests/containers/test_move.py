"""Moving a workspace to another host (issue #17): its folder goes agent to agent (a tar checked
with its digest), it answers on the same URL from the new host, and the old host keeps nothing; a
move that fails leaves it running where it was. Two real agents with their own workspace roots in
front of the local Docker Engine, nginx and the edge handshake."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.services import session_create
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from events.models import EventKind, JobEvent
from events.services import job_key
from tests.containers.stack import register_server, unique_username
from tests.factories import TEST_PASSWORD, ServerFactory, UserFactory
from tests.net import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.nginx]


def _active(stack):
    from containers.services import workspace_approve

    admin = UserFactory(username=unique_username("ad"), admin=True)
    owner = UserFactory(username=unique_username("mv"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=owner, server=stack.server)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    return admin, owner, workspace


@pytest.fixture
def second_host(stack, agent_factory, tmp_path):
    root = tmp_path / "host-b"
    root.mkdir()
    root.chmod(0o755)
    agent = agent_factory(workspace_root=root)
    return agent, register_server(agent, name=f"b-{unique_username('h')}")


def _docker_names(agent) -> list[str]:
    return [c["name"] for c in agent.get("/api/containers").json()["data"]]


def test_a_workspace_moves_with_its_files_and_answers_on_the_same_url(stack, second_host, api_as):
    agent_b, server_b = second_host
    admin, owner, workspace = _active(stack)
    (stack.deploy / owner.username / "notes.txt").write_text("my work\n")
    cookie = stack.edge_login(session_create(user=owner)[1], owner.username)
    assert stack.ws_becomes(owner.username, "vscode", cookie, 200)

    answer = api_as(admin).post(
        f"/api/workspaces/{workspace.pk}/move", {"server": server_b.pk}, format="json"
    )
    assert answer.status_code == 202, answer.json()
    workspace.refresh_from_db()
    assert (workspace.status, workspace.server_id, workspace.moving_to_id) == (
        WorkspaceStatus.ACTIVE, server_b.pk, None,
    ), workspace.status_reason  # fmt: skip
    # The files went with it, owned by the workspace user; nothing is left on the old host.
    moved = agent_b.workspace_root / owner.username
    assert (moved / "notes.txt").read_text() == "my work\n" and (moved / "README.txt").exists()
    assert {p.lstat().st_uid for p in [moved, *moved.rglob("*")]} == {1000}
    assert not (stack.deploy / owner.username).exists()
    assert stack.containers() == [] and len(_docker_names(agent_b)) == 1
    # The same URL and cookie reach it on its new host at once: nginx's cached answer still names
    # the old port, which refuses now, so nginx asks again past its cache on that request.
    assert stack.ws(owner.username, "vscode", "/", cookie).status_code == 200
    steps = JobEvent.objects.filter(
        job=job_key("workspace", workspace.pk), kind=EventKind.STEP, data__step="move"
    )
    assert [e.data["index"] for e in steps] == [1, 2, 3, 4, 5]
    moved_row = AuditLog.objects.get(action_type="workspace.moved", target_id=str(workspace.pk))
    assert moved_row.details["to"] == server_b.name and moved_row.details["bytes"] > 0
    assert AuditLog.objects.filter(action_type="workspace.move", actor=admin).exists()

    # And back again from the shell, following the steps.
    out = StringIO()
    call_command("move_workspace", owner.username, stack.server.name, "--wait", stdout=out)
    assert f"Moved to {stack.server.name}." in out.getvalue() and "(5/5)" in out.getvalue()
    workspace.refresh_from_db()
    assert workspace.server_id == stack.server.pk and (stack.deploy / owner.username / "notes.txt").exists()
    assert not moved.exists() and _docker_names(agent_b) == []


def test_a_failed_move_leaves_it_running_where_it_was(stack, api_as):
    admin, owner, workspace = _active(stack)
    (stack.deploy / owner.username / "notes.txt").write_text("keep\n")
    gone = ServerFactory(
        name=f"gone-{unique_username('g')}", agent_port=1, status="online", memory_total=64 * 1024**3
    )
    answer = api_as(admin).post(f"/api/workspaces/{workspace.pk}/move", {"server": gone.pk}, format="json")
    assert answer.status_code == 202
    workspace.refresh_from_db()
    assert workspace.server_id == stack.server.pk and workspace.moving_to_id is None
    assert workspace.status == WorkspaceStatus.ACTIVE  # started again, and its apps answered
    failed = AuditLog.objects.get(action_type="workspace.move_failed", target_id=str(workspace.pk))
    assert failed.details["reason"].startswith("The move failed while copying: ")
    assert (stack.deploy / owner.username / "notes.txt").read_text() == "keep\n"
    assert len(stack.containers()) == 1


def test_what_cannot_move_is_refused_with_the_reason(stack, api_as):
    admin, owner, workspace = _active(stack)
    api = api_as(admin)
    same = api.post(f"/api/workspaces/{workspace.pk}/move", {"server": stack.server.pk}, format="json")
    assert same.status_code == 409 and "already" in same.json()["message"]
    full = ServerFactory(name=f"full-{unique_username('f')}", status="online", memory_total=1024**2)
    small = api.post(f"/api/workspaces/{workspace.pk}/move", {"server": full.pk}, format="json")
    assert small.status_code == 409 and "MiB left" in small.json()["message"]
    assert api_as(owner).post(f"/api/workspaces/{workspace.pk}/move", {"server": full.pk}).status_code == 403
    Workspace.objects.filter(pk=workspace.pk).update(status=WorkspaceStatus.FAILED)
    failed = api.post(f"/api/workspaces/{workspace.pk}/move", {"server": full.pk}, format="json")
    assert failed.status_code == 409 and "only an active or stopped one moves" in failed.json()["message"]


def test_the_owner_sees_moving_then_lands_on_the_same_url(stack, second_host, browser_page):
    """In Chromium: the owner's VS Code URL while its workspace moves shows the workspace page,
    "Moving" with the steps as they happen, and goes on by itself to that same URL, served from the
    new host."""
    from servers.clients.agent import AgentClient

    _, server_b = second_host
    admin, owner, workspace = _active(stack)
    vscode_url = f"http://{stack.nginx.host(owner.username, 'vscode')}/"
    page = browser_page
    page.goto(vscode_url)  # log in, then the handshake back to VS Code
    page.fill("#email", owner.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(vscode_url)
    assert "vscode stand-in" in page.content()

    # The copy, then the start on the new host, wait until the owner has looked: the whole move
    # takes seconds with the stand-in.
    looked, saw_start = threading.Event(), threading.Event()
    unpack, create = AgentClient.folder_unpack, AgentClient.create_container

    def unpack_when_looked(self, name, archive):
        assert looked.wait(60)
        return unpack(self, name, archive)

    def create_when_seen(self, config):
        assert saw_start.wait(60)
        return create(self, config)

    from containers.services import workspace_move

    moving = threading.Thread(
        target=lambda: workspace_move(actor=admin, workspace=workspace, server=server_b), daemon=True
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AgentClient, "folder_unpack", unpack_when_looked)
        patch.setattr(AgentClient, "create_container", create_when_seen)
        moving.start()
        assert wait_until(
            lambda: JobEvent.objects.filter(data__step="move", data__index=2).exists(), timeout=30
        )
        page.reload()  # what VS Code's own reconnect comes to: its old host no longer answers
        page.wait_for_url(f"{stack.nginx.platform_url}/workspace?unavailable=*")
        assert page.text_content("#status") == "Moving"
        assert "is not reachable: your workspace is moving" in page.text_content("#unavailable")
        page.wait_for_function("document.querySelector('#live') !== null")
        looked.set()
        page.wait_for_selector(f"#live-log li:has-text('Starting it on {server_b.name}')", timeout=30000)
        saw_start.set()
        page.wait_for_url(vscode_url, timeout=60000)  # on its own, when the move is done
        moving.join(60)
    assert "vscode stand-in" in page.content()
    workspace.refresh_from_db()
    assert workspace.server_id == server_b.pk and workspace.status == WorkspaceStatus.ACTIVE
