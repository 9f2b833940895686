"""A host port a route leaves is not given to anyone else while nginx may still have it cached.

nginx keeps each verify answer, with its upstream, for EDGE_AUTH_CACHE_SECONDS: a port handed
to a new workspace within that time would send the previous owner's requests (a deleted
account's, or one just moved to another host) into the new owner's container.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from containers.models import PortHold, Route
from containers.nginx import Upstream, add_user_route, port_hold_seconds, ports_held, remove_user_route
from containers.services import _ports_reserve
from containers.tasks import edge_purge_expired_task
from mgmt.exceptions import Conflict
from servers.models import ServerStatus
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

LOW = 20100


def routed(username: str, vscode: int, jupyter: int, host: str = "10.0.0.7") -> Route:
    UserFactory(username=username)
    return add_user_route(username=username, vscode=Upstream(host, vscode), jupyter=Upstream(host, jupyter))


def test_a_removed_route_holds_its_ports_for_longer_than_nginx_caches(settings):
    settings.EDGE_AUTH_CACHE_SECONDS = 10
    routed("ada", LOW, LOW + 1)
    assert ports_held() == set()
    before = timezone.now()
    assert remove_user_route(username="ada") is True
    assert ports_held() == {LOW, LOW + 1}
    holds = PortHold.objects.order_by("port")
    assert [(h.host, h.port) for h in holds] == [("10.0.0.7", LOW), ("10.0.0.7", LOW + 1)]
    # The cache keeps an answer 10 s, and serves it stale while a refresh waits: 30 s in all.
    assert port_hold_seconds() == 30
    assert all(h.until >= before + timedelta(seconds=30) for h in holds)


def test_a_moved_route_holds_only_the_ports_it_left():
    routed("bob", LOW, LOW + 1)
    moved = Upstream("10.0.0.8", LOW + 5)
    add_user_route(username="bob", vscode=moved, jupyter=Upstream("10.0.0.7", LOW + 1))
    assert set(PortHold.objects.values_list("host", "port")) == {("10.0.0.7", LOW)}


def test_a_route_deleted_with_its_workspace_or_owner_holds_its_ports_too():
    server = ServerFactory(name="h1", status=ServerStatus.ONLINE)
    for name, (vscode, jupyter) in {"cara": (LOW, LOW + 1), "dan": (LOW + 2, LOW + 3)}.items():
        owner = UserFactory(username=name)
        WorkspaceFactory(owner=owner, server=server, name="default")
        routed(name, vscode, jupyter)
    Route.objects.get(username="cara").workspace.delete()
    assert ports_held() == {LOW, LOW + 1}
    Route.objects.get(username="dan").workspace.owner.delete()
    assert ports_held() == {LOW, LOW + 1, LOW + 2, LOW + 3}


def test_new_workspaces_never_get_a_held_port_and_get_it_once_the_hold_ends(settings):
    settings.WORKSPACE_HOST_PORTS = f"{LOW}-{LOW + 3}"
    server = ServerFactory(name="h1", status=ServerStatus.ONLINE)
    routed("erin", LOW, LOW + 1)
    remove_user_route(username="erin")
    for _ in range(10):  # random picks: any of the four ports could come up
        workspace = WorkspaceFactory(server=server)
        _ports_reserve(workspace)
        assert {workspace.vscode_port, workspace.jupyter_port} == {LOW + 2, LOW + 3}
        workspace.delete()
    blocker = WorkspaceFactory(server=server, vscode_port=LOW + 2, jupyter_port=LOW + 3)
    with pytest.raises(Conflict, match="No free host ports"):
        _ports_reserve(WorkspaceFactory(server=server))
    PortHold.objects.update(until=timezone.now() - timedelta(seconds=1))  # the hold has run out
    assert ports_held() == set()
    assert edge_purge_expired_task() == 2
    assert not PortHold.objects.exists()
    workspace = WorkspaceFactory(server=server)
    _ports_reserve(workspace)
    assert {workspace.vscode_port, workspace.jupyter_port} == {LOW, LOW + 1}
    assert blocker.pk != workspace.pk


def test_holding_a_port_twice_extends_the_one_hold():
    routed("finn", LOW, LOW + 1)
    remove_user_route(username="finn")
    first = PortHold.objects.get(port=LOW).until
    routed("gus", LOW, LOW + 1)
    remove_user_route(username="gus")
    assert PortHold.objects.filter(port=LOW).count() == 1
    assert PortHold.objects.get(port=LOW).until >= first
