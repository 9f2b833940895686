"""Approvals at once: the same one ten times → one of everything; twenty people → twenty routes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from celery._state import _set_task_join_will_block
from django.db import connections

from accounts.services import session_create
from audit.models import AuditLog
from containers.models import Workspace, WorkspaceStatus
from containers.nginx import list_routed_usernames
from containers.services import workspace_approve
from tests.containers.stack import unique_username
from tests.factories import UserFactory

pytestmark = [pytest.mark.docker, pytest.mark.nginx, pytest.mark.slow]


def run_at_once(calls):
    barrier = Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            connections.close_all()  # each thread has its own connection

    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, calls))
    finally:
        # Eager tasks set Celery's process-wide "join would block" flag and restore it on exit;
        # interleaved in threads they can leave it set, which breaks later `.get()` in this process.
        _set_task_join_will_block(False)


def test_same_approval_ten_times_makes_one_of_everything(stack):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    user = UserFactory(username=unique_username("u"), pending=True)
    results = run_at_once([lambda: workspace_approve(actor=admin, user=user)] * 10)

    assert sum(queued for _, queued in results) == 1
    assert len({workspace.pk for workspace, _ in results}) == 1
    workspace = Workspace.objects.get(owner=user)
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    assert stack.containers() == [f"{stack.agent.label_prefix}-{user.username}"]
    assert list_routed_usernames() == [user.username]
    for action in ("user.approve", "workspace.approve", "workspace.provision"):
        assert AuditLog.objects.filter(action_type=action).count() == 1, action


def test_twenty_people_at_once_get_twenty_working_routes(stack):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    users = [UserFactory(username=unique_username("p"), pending=True) for _ in range(20)]
    run_at_once([lambda u=u: workspace_approve(actor=admin, user=u, memory="256m") for u in users])

    workspaces = list(Workspace.objects.filter(owner__in=users))
    assert [w.status for w in workspaces] == [WorkspaceStatus.ACTIVE] * 20, [
        w.status_reason for w in workspaces
    ]
    ports = [w.vscode_port for w in workspaces] + [w.jupyter_port for w in workspaces]
    assert len(set(ports)) == 40  # no port reused
    assert len(stack.containers()) == 20
    assert len(list_routed_usernames()) == 20
    for user in users:
        cookie = stack.edge_login(session_create(user=user)[1], user.username)
        assert stack.ws_becomes(user.username, "vscode", cookie, 200), user.username
        answer = stack.ws(user.username, "vscode", "/", cookie)
        assert user.username in answer.text  # each route reaches its own container
