"""Several Docker hosts as separate machines (tests/netns_hosts.py): each its own network
namespace, address, Docker Engine and agent. The platform's real code paths (services, the saga
on eager Celery, the reconciler, the stats poll, nginx) reach a host only through its address."""

from __future__ import annotations

import pytest

from accounts.services import session_create
from containers.models import Route, Workspace, WorkspaceStatus
from containers.services import workspace_approve, workspace_move, workspace_user_delete
from maintenance.models import RunStatus
from maintenance.reconcile import reconcile
from servers.models import Server, ServerStatus
from servers.services.stats import servers_poll
from tests.containers.stack import unique_username
from tests.factories import UserFactory
from tests.netns_hosts import AGENT_PORT, GiB, NetnsStack

pytestmark = [pytest.mark.netns, pytest.mark.docker, pytest.mark.nginx]


def _approved(admin, stem: str, **kwargs) -> Workspace:
    person = UserFactory(username=unique_username(stem), pending=True)
    workspace, queued = workspace_approve(actor=admin, user=person, **kwargs)
    assert queued
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    return workspace


def _two_hosts(netns_stack: NetnsStack):
    """Hosts a and b registered as servers, and an admin."""
    a, b, _ = netns_stack.hosts
    server_a = netns_stack.register(a, name="netns-a")
    server_b = netns_stack.register(b, name="netns-b")
    return a, b, server_a, server_b, UserFactory(username=unique_username("ad"), admin=True)


def test_placement_spreads_workspaces_by_free_memory(netns_stack: NetnsStack):
    a, b, c = netns_stack.hosts
    # Free memory decides, most first: 11, 16 and 9 GiB; each workspace takes 4 GiB.
    servers = {
        "a": netns_stack.register(a, name="netns-a", memory_total=11 * GiB),
        "b": netns_stack.register(b, name="netns-b", memory_total=16 * GiB),
        "c": netns_stack.register(c, name="netns-c", memory_total=9 * GiB),
    }
    admin = UserFactory(username=unique_username("ad"), admin=True)

    placed = [_approved(admin, f"p{i}", memory="4g") for i in range(4)]

    # b 16 → 12 (still the most: b again) → 8; then a 11 → 7; then c 9 (b has 8, a 7).
    assert [ws.server.name for ws in placed] == ["netns-b", "netns-b", "netns-a", "netns-c"]
    for ws in placed:
        host = netns_stack.host_of(ws.server)
        # The container runs on that host's own engine, published on that host's address only.
        assert ws.upstream_host == host.address
        assert ws.container_name in host.containers()
    names = {ws.container_name for ws in placed}
    assert len(names) == 4
    for key, host in zip("abc", (a, b, c), strict=True):
        on_host = {ws.container_name for ws in placed if ws.server == servers[key]}
        assert set(host.containers()) == on_host


def test_cut_off_host_is_unreachable_and_nothing_on_it_is_repaired(netns_stack: NetnsStack):
    a, b, server_a, server_b, admin = _two_hosts(netns_stack)
    on_a = _approved(admin, "ona", server=server_a)
    on_b = _approved(admin, "onb", server=server_b)
    assert servers_poll() == {"netns-a": ServerStatus.ONLINE, "netns-b": ServerStatus.ONLINE}

    # Drift on both hosts: a's container is gone, b's is stopped.
    a.docker("rm", "-f", on_a.container_name)
    b.docker("stop", "-t", "0", on_b.container_name)

    with a.cut_off():
        polled = servers_poll()
        assert polled == {"netns-a": ServerStatus.OFFLINE, "netns-b": ServerStatus.ONLINE}
        assert Server.objects.get(pk=server_a.pk).status_detail  # why, for the operator

        run = reconcile()

        assert run.status == RunStatus.PARTIAL
        assert [u["server"] for u in run.unreachable] == ["netns-a"]
        assert all(f["server"] != "netns-a" for f in run.findings), run.findings
        # Nothing on the cut-off host was concluded or repaired: a's workspace is as it was.
        kept = Workspace.objects.get(pk=on_a.pk)
        assert kept.status == WorkspaceStatus.ACTIVE and kept.container_id == on_a.container_id
        assert Route.objects.filter(username=on_a.owner.username).exists()
        # The reachable host was repaired: b's container runs again.
        repaired = [f for f in run.findings if f["server"] == "netns-b"]
        assert [(f["kind"], f["outcome"]) for f in repaired] == [("stopped_container", "done")]
        running = b.docker("inspect", "-f", "{{.State.Running}}", on_b.container_name).stdout.strip()
        assert running == "true"

    # Back on the network, the same drift on a is seen (and, in a dry run, only reported).
    back = reconcile(dry_run=True)
    assert back.unreachable == []
    assert [(f["server"], f["kind"]) for f in back.findings] == [("netns-a", "missing_container")]
    assert servers_poll()["netns-a"] == ServerStatus.ONLINE


def test_routes_reach_the_container_on_each_host(netns_stack: NetnsStack):
    a, b, server_a, server_b, admin = _two_hosts(netns_stack)
    on_a = _approved(admin, "ona", server=server_a)
    on_b = _approved(admin, "onb", server=server_b)
    edge = netns_stack.edge

    for ws, host in ((on_a, a), (on_b, b)):
        route = Route.objects.get(username=ws.owner.username)
        assert route.upstream("vscode") == (host.address, ws.vscode_port)
        assert route.upstream("jupyter") == (host.address, ws.jupyter_port)
        assert host.agent is not None and host.agent.url == f"http://{host.address}:{AGENT_PORT}"

    name_a, name_b = on_a.owner.username, on_b.owner.username
    token_a = session_create(user=on_a.owner)[1]
    token_b = session_create(user=on_b.owner)[1]
    cookie_a = edge.edge_login(token_a, name_a)
    cookie_b = edge.edge_login(token_b, name_b)
    assert edge.ws_becomes(name_a, "vscode", cookie_a, 200)
    assert edge.ws_becomes(name_b, "vscode", cookie_b, 200)
    mine_a, mine_b = edge.ws(name_a, "vscode", "/", cookie_a), edge.ws(name_b, "vscode", "/", cookie_b)
    assert "vscode stand-in" in mine_a.text and name_a in mine_a.text and name_b not in mine_a.text
    assert "vscode stand-in" in mine_b.text and name_b in mine_b.text and name_a not in mine_b.text
    # One person's cookie opens nothing of the other's, on either host.
    assert edge.ws(name_b, "vscode", "/", cookie_a).status_code == 401
    # Each container is only on its own host's engine.
    assert on_a.container_name in a.containers() and on_a.container_name not in b.containers()
    assert on_b.container_name in b.containers() and on_b.container_name not in a.containers()


def test_deleting_a_person_removes_the_folder_on_their_host_only(netns_stack: NetnsStack):
    a, b, server_a, server_b, admin = _two_hosts(netns_stack)
    leaving = _approved(admin, "del", server=server_a)
    staying = _approved(admin, "stay", server=server_b)
    name = leaving.owner.username
    # Each host's agent made its person's folder from its own template, on its own disk.
    assert (a.workspace_root / name / "README.txt").read_text() == (a.template / "README.txt").read_text()
    assert not (b.workspace_root / name).exists()
    # The same name on host b (a folder someone left there) must survive the deletion on a.
    (b.workspace_root / name).mkdir()

    assert workspace_user_delete(actor=admin, user=leaving.owner, delete_folder=True) is True

    assert not (a.workspace_root / name).exists() and not a.containers()
    assert (b.workspace_root / name).is_dir()
    assert (b.workspace_root / staying.owner.username).is_dir() and b.containers() == [staying.container_name]


def test_a_workspace_moves_between_hosts_and_keeps_its_address(netns_stack: NetnsStack):
    a, b, server_a, server_b, admin = _two_hosts(netns_stack)
    workspace = _approved(admin, "mov", server=server_a)
    name = workspace.owner.username
    (a.workspace_root / name / "work.txt").write_text("moved with me\n")
    stack = netns_stack.edge
    cookie = stack.edge_login(session_create(user=workspace.owner)[1], name)
    assert stack.ws_becomes(name, "vscode", cookie, 200)

    workspace_move(actor=admin, workspace=workspace, server=server_b)

    workspace.refresh_from_db()
    assert (workspace.status, workspace.server_id) == (WorkspaceStatus.ACTIVE, server_b.pk), (
        workspace.status_reason
    )
    assert workspace.upstream_host == b.address and Route.objects.get(username=name).vscode_host == b.address
    assert (b.workspace_root / name / "work.txt").read_text() == "moved with me\n"
    assert (
        not (a.workspace_root / name).exists()
        and a.containers() == []
        and b.containers() == [workspace.container_name]
    )
    assert stack.ws_becomes(name, "vscode", cookie, 200, timeout=30)  # the same URL, now on host b
