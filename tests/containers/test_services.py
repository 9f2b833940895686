"""Workspace services without Docker: placement, validation, hostile names, scoping, deletion rules."""

from __future__ import annotations

import pytest

from accounts.models import UserStatus
from containers.models import Workspace, WorkspaceStatus
from containers.selectors import server_pick
from containers.services import memory_parse, workspace_approve, workspace_user_delete
from mgmt.exceptions import Conflict, ValidationFailed
from servers.models import Server, ServerStatus
from servers.selectors import server_dependents
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

GiB = 1024**3


def make_server(name: str, **fields) -> Server:
    defaults = {"status": ServerStatus.ONLINE, "memory_total": 16 * GiB, "gpu_count": 0}
    defaults.update(fields)
    return ServerFactory(name=name, **defaults)


@pytest.mark.django_db
def test_pick_prefers_most_free_memory_after_reservations():
    big, small = make_server("big", memory_total=32 * GiB), make_server("small", memory_total=16 * GiB)
    make_server("draining", memory_total=512 * GiB, status=ServerStatus.DRAINING)
    make_server("offline", memory_total=512 * GiB, status=ServerStatus.OFFLINE)
    assert server_pick(memory=2 * GiB, gpus=0) == big
    WorkspaceFactory(server=big, memory=20 * GiB)
    assert server_pick(memory=2 * GiB, gpus=0) == small  # big has 12 GiB left, small 16


@pytest.mark.django_db
def test_pick_honours_gpus_and_says_why_nothing_fits():
    make_server("cpu-only", memory_total=64 * GiB)
    gpu = make_server("gpu", memory_total=8 * GiB, gpu_count=2)
    assert server_pick(memory=GiB, gpus=2) == gpu
    WorkspaceFactory(server=gpu, memory=GiB, gpus=1)
    with pytest.raises(Conflict, match=r"No server can take this workspace.*1 free GPU"):
        server_pick(memory=GiB, gpus=2)


@pytest.mark.django_db
def test_approval_without_any_server_is_a_conflict_and_changes_nothing(admin_user):
    user = UserFactory(pending=True)
    with pytest.raises(Conflict, match="No server is online"):
        workspace_approve(actor=admin_user, user=user)
    user.refresh_from_db()
    assert user.status == UserStatus.PENDING and not Workspace.objects.exists()


@pytest.mark.django_db
def test_approval_refuses_images_not_allowed_and_bad_sizes(admin_user):
    make_server("h1")
    user = UserFactory(pending=True)
    with pytest.raises(Conflict, match="not an allowed workspace image"):
        workspace_approve(actor=admin_user, user=user, image="evil/image:latest")
    with pytest.raises(ValidationFailed, match="memory"):
        workspace_approve(actor=admin_user, user=user, memory="lots")
    assert memory_parse("2g") == 2 * GiB and memory_parse("512m") == 512 * 1024**2
    assert not Workspace.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["../etc", "a/b", "x;rm -rf /", "Alice", "a b", "-lead", "{{x}}"])
def test_hostile_usernames_never_reach_a_path_a_container_or_a_route(admin_user, name, settings, tmp_path):
    settings.NGINX_ROUTES_DIR = str(tmp_path)
    make_server("h2")
    # Created behind the sign-up validation's back (an import, a hand-edited row).
    user = UserFactory(username=name, pending=True)
    with pytest.raises(ValidationFailed, match="cannot be used in a route"):
        workspace_approve(actor=admin_user, user=user)
    assert not Workspace.objects.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_server_with_live_workspaces_is_reported_as_in_use():
    server = make_server("busy")
    owner = UserFactory(username="carla")
    WorkspaceFactory(owner=owner, server=server, status=WorkspaceStatus.ACTIVE)
    assert server_dependents(server=server) == {"workspaces": ["carla/default (active)"]}
    Workspace.objects.filter(owner=owner).update(status=WorkspaceStatus.FAILED)
    assert server_dependents(server=server) == {}


@pytest.mark.django_db
def test_deleting_while_provisioning_is_refused(admin_user):
    user = UserFactory()
    WorkspaceFactory(owner=user, status=WorkspaceStatus.PROVISIONING)
    with pytest.raises(Conflict, match="being provisioned"):
        workspace_user_delete(actor=admin_user, user=user)


@pytest.mark.django_db
def test_workspaces_are_scoped_to_their_owner(alice, bob, admin_user, api_as):
    from accounts.roles import owner_permissions_grant

    mine = WorkspaceFactory(owner=alice)
    owner_permissions_grant(user=alice, obj=mine, actions=("view", "operate"))
    WorkspaceFactory(owner=bob)
    assert [w["owner"] for w in api_as(alice).get("/api/workspaces").json()["data"]["results"]] == ["alice"]
    assert len(api_as(admin_user).get("/api/workspaces").json()["data"]["results"]) == 2
    assert api_as(bob).get(f"/api/workspaces/{mine.pk}").status_code == 404


@pytest.mark.django_db
def test_a_move_holds_room_on_the_host_it_goes_to_until_it_switches():
    from containers.selectors import server_reservations, server_reservations_by_server

    source = make_server("source", memory_total=16 * GiB)
    target = make_server("target", memory_total=16 * GiB)
    other = make_server("other", memory_total=12 * GiB)
    moving = WorkspaceFactory(
        server=source, moving_to=target, status=WorkspaceStatus.MOVING, memory=8 * GiB, gpus=0, cpu=2.0
    )
    assert server_reservations(server=target)["memory"] == 8 * GiB  # on its way there
    assert server_reservations(server=source)["memory"] == 8 * GiB  # and still here
    by_server = server_reservations_by_server()
    assert by_server[target.pk] == by_server[source.pk] == {"memory": 8 * GiB, "gpus": 0, "cpu": 2.0}
    # The target has 8 GiB left, less than `other`'s 12: a new workspace goes to `other`.
    assert server_pick(memory=2 * GiB, gpus=0) == other
    moving.status, moving.server, moving.moving_to = WorkspaceStatus.ACTIVE, target, None
    moving.save()
    assert server_reservations(server=source)["memory"] == 0
    assert server_reservations_by_server()[target.pk]["memory"] == 8 * GiB
