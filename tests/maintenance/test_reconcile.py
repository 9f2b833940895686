"""The reconciler on the real stack: agent + dockerd, nginx, MariaDB, the saga's own services.

A "killed worker" is simulated by raising a BaseException inside the saga at the
step boundary: the saga's `except Exception` compensation does not run, exactly
as when the process dies there.
"""

from __future__ import annotations

import io
import subprocess
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command

from accounts.services import session_create
from audit.models import AuditLog
from containers import nginx
from containers import services as ws_services
from containers.models import Route, Workspace, WorkspaceStatus
from events.models import JobEvent
from maintenance.models import RunStatus
from maintenance.reconcile import reconcile
from servers.clients.agent import AgentClient
from tests.agent_process import managed_container_names, start_agent
from tests.containers.stack import register_server, unique_username
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]
NOW = timedelta(0)  # everything not moving counts as stuck


class WorkerKilled(BaseException):
    """The worker process died here (not an Exception: no compensation runs)."""


def _approved(stack, stem: str = "u") -> Workspace:
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username(stem), pending=True)
    workspace, _ = ws_services.workspace_approve(actor=admin, user=user)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    return workspace


def _kinds(run) -> list[tuple[str, str]]:
    return sorted((f["kind"], f["subject"]) for f in run.findings)


def _docker_names(stack) -> list[str]:
    return managed_container_names(stack.agent.label_prefix)


def _kill_at(monkeypatch, step: str) -> None:
    if step == "routes":  # the route is written, the worker dies before marking active

        def die(**kwargs):
            raise WorkerKilled

        monkeypatch.setattr(ws_services, "workspace_mark_active", die)
        return
    following = {"folder": ws_services.ProvisionStep.CONTAINER, "container": ws_services.ProvisionStep.PORTS}[
        step
    ]
    real = ws_services.workspace_step_set

    def set_step(workspace, new_step):
        if new_step == following:
            raise WorkerKilled
        real(workspace, new_step)

    monkeypatch.setattr(ws_services, "workspace_step_set", set_step)


@pytest.mark.parametrize("step", ["folder", "container", "routes"])
def test_worker_killed_at_each_provisioning_step(stack, monkeypatch, step):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("k"), pending=True)
    name = user.username
    _kill_at(monkeypatch, step)
    with pytest.raises(WorkerKilled):
        ws_services.workspace_approve(actor=admin, user=user)
    monkeypatch.undo()
    workspace = Workspace.objects.get(owner=user)
    # Stuck: nobody will move it on (past the routes step it is starting, waiting for its apps).
    assert workspace.status == (
        WorkspaceStatus.STARTING if step == "routes" else WorkspaceStatus.PROVISIONING
    )
    assert (stack.deploy / name).is_dir()
    assert bool(_docker_names(stack)) == (step != "folder")
    assert nginx.check_user_exists(username=name) == (step == "routes")

    dry = reconcile(dry_run=True, stuck_after=NOW)
    assert _kinds(dry) == [("stuck_operation", name)]
    assert Workspace.objects.get(pk=workspace.pk).status == workspace.status

    run = reconcile(stuck_after=NOW)
    assert [f["outcome"] for f in run.findings] == ["done"], run.findings
    workspace.refresh_from_db()
    assert workspace.status not in (
        WorkspaceStatus.PENDING,
        WorkspaceStatus.PROVISIONING,
        WorkspaceStatus.STARTING,
    )
    assert AuditLog.objects.filter(
        action_type="reconcile.stuck_operation", target_id=str(workspace.pk)
    ).exists()
    if step == "routes":  # everything was there: the reconciler finished it
        assert workspace.status == WorkspaceStatus.ACTIVE
        assert len(_docker_names(stack)) == 1 and nginx.check_user_exists(username=name)
    else:  # rolled back: no container, no route, no folder
        assert workspace.status == WorkspaceStatus.FAILED and "reconciler" in workspace.status_reason
        assert _docker_names(stack) == []
        assert not nginx.check_user_exists(username=name) and not (stack.deploy / name).exists()
        # The person can be approved again, and it works.
        _, queued = ws_services.workspace_approve(actor=admin, user=user)
        assert queued
        workspace.refresh_from_db()
        assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    assert reconcile(stuck_after=NOW).status == RunStatus.CLEAN


def test_agent_killed_after_the_container_then_back(stack, agent_factory, monkeypatch):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("a"), pending=True)
    agent = stack.agent
    real = ws_services.workspace_step_set

    def agent_dies(workspace, new_step):
        if new_step == ws_services.ProvisionStep.PORTS:
            agent.stop(remove_containers=False)
        real(workspace, new_step)

    monkeypatch.setattr(ws_services, "workspace_step_set", agent_dies)
    ws_services.workspace_approve(actor=admin, user=user)
    monkeypatch.undo()
    workspace = Workspace.objects.get(owner=user)
    # The saga undid what it could; the container it could not remove is left to the reconciler.
    assert workspace.status == WorkspaceStatus.FAILED and "reconciler" in workspace.status_reason
    assert len(_docker_names(stack)) == 1

    # While the agent is down the reconciler skips the server and removes nothing.
    down = reconcile(stuck_after=NOW)
    assert down.status == RunStatus.PARTIAL and down.unreachable[0]["server"] == stack.server.name
    assert len(_docker_names(stack)) == 1

    agent_factory(
        port=agent.port,
        secret=agent.secret,
        label_prefix=agent.label_prefix,
        workspace_root=agent.workspace_root,
    )
    run = reconcile(stuck_after=NOW)
    assert _kinds(run) == [("orphan_container", f"{agent.label_prefix}-{user.username}")]
    assert run.findings[0]["outcome"] == "done"
    assert _docker_names(stack) == []
    _, queued = ws_services.workspace_approve(actor=admin, user=user)
    workspace.refresh_from_db()
    assert queued and workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason


def test_hand_made_drift_is_reported_then_repaired(stack):
    workspace = _approved(stack, "r")
    name = workspace.owner.username
    token = session_create(user=workspace.owner)[1]
    prefix = stack.agent.label_prefix
    intruder = f"{prefix}-hand-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        ["docker", "run", "-d", "--name", intruder, "--label", f"{prefix}.managed=true",
         "--label", f"{prefix}.user=ghost", "--label", f"{prefix}.workspace=999999",
         "mgmt-test/workspace:latest"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        Route.objects.filter(username=name).delete()  # a route deleted by hand
        Route.objects.create(  # a route nobody owns
            username="ghost-user",
            vscode_host="127.0.0.1",
            vscode_port=1,
            jupyter_host="127.0.0.1",
            jupyter_port=2,
        )
        (stack.deploy / "gone-user").mkdir()  # a folder whose person is gone

        out = io.StringIO()
        call_command("reconcile", "--dry-run", "--stuck-minutes", "0", stdout=out)
        table = out.getvalue()
        for expected in ("orphan_container", intruder, "workspace_without_route", "route_without_workspace",
                         "folder_without_user", "dry run, nothing changed"):  # fmt: skip
            assert expected in table, table
        assert intruder in _docker_names(stack) and nginx.check_user_exists(username="ghost-user")
        assert not nginx.check_user_exists(username=name)

        run = reconcile(stuck_after=NOW)
        assert _kinds(run) == sorted(
            [
                ("orphan_container", intruder),
                ("workspace_without_route", name),
                ("route_without_workspace", "ghost-user"),
                ("folder_without_user", "gone-user"),
            ]
        )
        outcomes = {f["kind"]: f["outcome"] for f in run.findings}
        assert outcomes["folder_without_user"] == "reported" and (stack.deploy / "gone-user").is_dir()
        assert {v for k, v in outcomes.items() if k != "folder_without_user"} == {"done"}
        assert _docker_names(stack) == [f"{prefix}-{name}"]
        assert not nginx.check_user_exists(username="ghost-user")
        assert nginx.check_user_exists(username=name)
        # The restored route works in nginx.
        assert stack.ws_becomes(name, "vscode", stack.edge_login(token, name), 200)
        actions = set(AuditLog.objects.filter(source="reconciler").values_list("action_type", flat=True))
        assert {"reconcile.orphan_container", "reconcile.workspace_without_route"} <= actions

        # The run's live stream (events/): its steps, every finding, then the end.
        stream = list(JobEvent.objects.filter(job=f"reconcile:{run.pk}").order_by("id"))
        assert stream[0].text.startswith("Asking ") and stream[-1].kind == "done"
        assert stream[-1].text == "Drift found: 4 finding(s)."
        logged = [e.text for e in stream if e.kind == "log"]
        assert len(logged) == 4 and any(intruder in line and "(done)" in line for line in logged)

        run = reconcile(stuck_after=NOW, remove_orphan_folders=True)
        assert (
            _kinds(run) == [("folder_without_user", "gone-user")]
            and not (stack.deploy / "gone-user").exists()
        )
        assert reconcile(stuck_after=NOW).status == RunStatus.CLEAN
    finally:
        subprocess.run(["docker", "rm", "-f", intruder], capture_output=True)


def test_stopped_missing_and_moved_containers(stack):
    stopped, missing = _approved(stack, "s"), _approved(stack, "m")
    token = session_create(user=stopped.owner)[1]
    client = AgentClient.for_server(stack.server)
    client.stop_container(stopped.container_name)  # stopped by hand, the database still says active
    client.delete_container(missing.container_name)  # removed by hand
    old_ports = (missing.vscode_port, missing.jupyter_port)

    run = reconcile(stuck_after=NOW)
    assert _kinds(run) == sorted(
        [("stopped_container", stopped.owner.username), ("missing_container", missing.owner.username)]
    )
    assert {f["outcome"] for f in run.findings} == {"done"}, run.findings
    stopped.refresh_from_db()
    missing.refresh_from_db()
    assert stopped.status == missing.status == WorkspaceStatus.ACTIVE, (
        stopped.status_reason,
        missing.status_reason,
    )
    owner = stopped.owner.username
    assert stack.ws_becomes(owner, "vscode", stack.edge_login(token, owner), 200)
    assert missing.container_id and (missing.vscode_port, missing.jupyter_port) != (None, None)
    assert old_ports != (None, None)
    assert AuditLog.objects.filter(
        action_type="workspace.container_missing", target_id=str(missing.pk)
    ).exists()

    # The database's ports drift from the container's: recorded again, the route rewritten.
    Workspace.objects.filter(pk=stopped.pk).update(vscode_port=1, jupyter_port=2)
    run = reconcile(stuck_after=NOW)
    assert _kinds(run) == [("port_mismatch", stopped.owner.username)], run.findings
    stopped.refresh_from_db()
    assert stopped.vscode_port not in (1, None)
    assert Route.objects.get(username=stopped.owner.username).vscode_port == stopped.vscode_port
    assert reconcile(stuck_after=NOW).status == RunStatus.CLEAN


def test_unreachable_server_is_skipped_and_nothing_deleted(stack, workspace_dirs):
    workspace = _approved(stack, "u")
    name = workspace.owner.username
    stuck_user = UserFactory(username=unique_username("st"))
    stuck = WorkspaceFactory(
        owner=stuck_user, server=stack.server, image=workspace.image, status=WorkspaceStatus.PROVISIONING,
        step="container", folder_path=str(stack.deploy / stuck_user.username),
    )  # fmt: skip
    dead_agent = start_agent(workspace_root=stack.deploy)
    dead = register_server(dead_agent, name=f"dead-{uuid.uuid4().hex[:6]}")
    dead_agent.stop()
    stack.agent.stop(remove_containers=False)
    try:
        out, err = io.StringIO(), io.StringIO()
        call_command("reconcile", "--stuck-minutes", "0", stdout=out, stderr=err)
        assert f"skipped {stack.server.name}" in err.getvalue() and f"skipped {dead.name}" in err.getvalue()
        assert "Some servers unreachable" in out.getvalue()
        # Its workspace, container, route and folder are all still there; the stuck one waits.
        workspace.refresh_from_db()
        stuck.refresh_from_db()
        assert workspace.status == WorkspaceStatus.ACTIVE
        assert stuck.status == WorkspaceStatus.PROVISIONING
        assert _docker_names(stack) == [f"{stack.agent.label_prefix}-{name}"]
        assert nginx.check_user_exists(username=name) and (stack.deploy / name).is_dir()
        from maintenance.models import ReconcileRun

        run = ReconcileRun.objects.first()
        assert run.status == RunStatus.PARTIAL
        assert {u["server"] for u in run.unreachable} == {stack.server.name, dead.name}
        assert [(f["kind"], f["outcome"]) for f in run.findings] == [("stuck_operation", "reported")]

        # Only one server: the other is not even asked.
        out = io.StringIO()
        call_command("reconcile", "--dry-run", "--server", dead.name, stdout=out, stderr=err)
        assert ReconcileRun.objects.first().server_name == dead.name
    finally:
        stack.agent.remove_containers()
    assert nginx.check_user_exists(username=name)
