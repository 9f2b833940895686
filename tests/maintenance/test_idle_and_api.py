"""Idle-workspace stop on the real stack; the reconcile API and admin pages."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.services import session_create
from audit.models import AuditLog
from containers import services as ws_services
from containers.models import RouteActivity, Workspace, WorkspaceStatus
from maintenance.idle import workspaces_stop_idle
from maintenance.models import ReconcileRun, RunStatus
from maintenance.reconcile import reconcile
from tests.containers.stack import unique_username
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory


def _active(stack) -> Workspace:
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("i"), pending=True)
    workspace, _ = ws_services.workspace_approve(actor=admin, user=user)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    return workspace


def _idle_since(workspace: Workspace, minutes: int) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


@pytest.mark.docker
@pytest.mark.nginx
@pytest.mark.slow
def test_idle_workspaces_are_stopped_and_the_owner_sees_why(stack, settings, api_as):
    settings.WORKSPACE_IDLE_STOP_MINUTES = 30
    idle, used, quiet = _active(stack), _active(stack), _active(stack)
    for workspace in (idle, used, quiet):
        _idle_since(workspace, 45)
    # A request through `used`'s workspace (nginx → verify).
    token = session_create(user=used.owner)[1]
    cookie = stack.edge_login(token, used.owner.username)
    assert stack.ws_becomes(used.owner.username, "vscode", cookie, 200)
    assert RouteActivity.objects.filter(user=used.owner).exists()
    RouteActivity.objects.filter(user=quiet.owner).delete()

    out = io.StringIO()
    call_command("stop_idle_workspaces", "--dry-run", stdout=out)
    assert "idle-workspaces: would stop 2" in out.getvalue()
    assert idle.owner.username in out.getvalue() and used.owner.username not in out.getvalue()
    assert Workspace.objects.get(pk=idle.pk).status == WorkspaceStatus.ACTIVE

    # CPU use keeps a workspace running: with a threshold below zero every container counts as busy.
    settings.WORKSPACE_IDLE_CPU_PERCENT = -1
    assert workspaces_stop_idle().count == 0
    settings.WORKSPACE_IDLE_CPU_PERCENT = 2.0

    report = workspaces_stop_idle()
    assert report.count == 2 and not report.errors, report
    idle.refresh_from_db()
    used.refresh_from_db()
    assert idle.status == WorkspaceStatus.STOPPED and "30 minutes without use" in idle.status_reason
    assert used.status == WorkspaceStatus.ACTIVE
    assert AuditLog.objects.filter(action_type="workspace.idle_stop", target_id=str(idle.pk)).exists()
    # The owner sees the reason on their workspace.
    answer = api_as(idle.owner).get(f"/api/workspaces/{idle.pk}").json()["data"]
    assert answer["status"] == "stopped" and "without use" in answer["status_reason"]
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE] = session_create(user=idle.owner)[1]
    page = browser.get("/workspace")
    assert page.status_code == 200 and b"minutes without use" in page.content
    # The reconciler agrees: a stopped workspace with a stopped container is no drift.
    assert reconcile(stuck_after=timedelta(0)).status == RunStatus.CLEAN
    # The owner starts it again: the idle reason is gone.
    assert api_as(idle.owner).post(f"/api/workspaces/{idle.pk}/start").status_code == 200
    idle.refresh_from_db()
    assert idle.status == WorkspaceStatus.ACTIVE and idle.status_reason == ""


@pytest.mark.django_db
def test_idle_stop_is_off_by_default(settings):
    settings.WORKSPACE_IDLE_STOP_MINUTES = 0
    assert "off" in workspaces_stop_idle().note


@pytest.mark.django_db
def test_reconcile_api_and_admin(api_as, admin_user, django_capture_on_commit_callbacks):
    dead = ServerFactory(name="api-dead", agent_port=1)  # nothing answers on port 1
    # Pending for a day on a host that does not answer: reported, never repaired.
    stuck = WorkspaceFactory(
        owner=UserFactory(username="left-behind"), server=dead, status=WorkspaceStatus.PENDING
    )
    Workspace.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(days=1))
    client = api_as(admin_user)
    first = client.get("/api/admin/reconcile")
    assert first.status_code == 200 and first.json()["data"] is None

    assert client.post("/api/admin/reconcile", {"server": "nope"}, format="json").status_code == 404
    assert client.post("/api/admin/reconcile", {"server": "../x"}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post("/api/admin/reconcile", {"dry_run": True}, format="json")
    assert queued.status_code == 202
    last = client.get("/api/admin/reconcile").json()["data"]
    assert last["status"] == RunStatus.PARTIAL and last["dry_run"] and last["trigger"] == "api"
    assert last["unreachable"][0]["server"] == "api-dead"
    assert last["counts"] == {"stuck_operation": 1}
    assert last["findings"][0]["subject"] == "left-behind"
    assert last["findings"][0]["action"] == "wait: its server does not answer"
    history = client.get("/api/admin/reconcile/runs").json()["data"]
    assert history["count"] == 1

    browser = Client()
    browser.force_login(admin_user, backend="django.contrib.auth.backends.AllowAllUsersModelBackend")
    run = ReconcileRun.objects.get()
    page = browser.get(f"/admin/maintenance/reconcilerun/{run.pk}/change/")
    assert page.status_code == 200 and b"left-behind" in page.content and b"api-dead" in page.content
    assert browser.get("/admin/maintenance/cleanuppolicy/").status_code == 200


@pytest.mark.django_db
def test_one_repairing_run_at_a_time(settings, tmp_path):
    from django.core.cache import cache

    from maintenance import tasks
    from maintenance.reconcile import _LOCK_KEY
    from mgmt.exceptions import Conflict

    assert cache.add(_LOCK_KEY, 1, 60)  # a run is repairing
    try:
        with pytest.raises(Conflict):
            reconcile()
        assert tasks.reconcile_task.delay().get() is None  # the periodic run steps aside
        assert reconcile(dry_run=True).status == RunStatus.CLEAN  # looking is always allowed
    finally:
        cache.delete(_LOCK_KEY)
    assert reconcile().status == RunStatus.CLEAN
    assert not cache.get(_LOCK_KEY)  # released after the run
