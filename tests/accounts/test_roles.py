"""The matrix drives the Django admin: the admin/qvp groups hold exactly the mapped model permissions."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client, override_settings

from accounts.permissions import MATRIX, RequirePermission, has_permission
from accounts.roles import MODEL_PERMISSIONS, ROLE_GROUPS, role_groups_sync, role_model_permissions
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
BACKEND = "django.contrib.auth.backends.AllowAllUsersModelBackend"


def group_perms(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


def test_the_mapping_covers_the_matrix_exactly():
    assert set(MODEL_PERMISSIONS) == set(MATRIX)


def test_the_original_matrix_holds():
    assert has_permission("admin", "manage_users") and not has_permission("qvp", "manage_users")
    for perm in ("view_dashboard", "view_servers", "view_images", "build_images", "push_images"):
        assert has_permission("qvp", perm) and not has_permission("regular", perm)
    for perm in ("delete_server", "delete_image"):
        assert not has_permission("qvp", perm)
    with pytest.raises(KeyError):
        has_permission("admin", "no_such_permission")
    with pytest.raises(KeyError):
        RequirePermission("no_such_permission")


def test_groups_after_migrate_match_the_matrix():
    for user_type, name in ROLE_GROUPS.items():
        assert group_perms(name) == role_model_permissions(user_type)
    assert "accounts.change_user" in group_perms("admin")
    assert "accounts.change_user" not in group_perms("qvp")


def test_sync_roles_repairs_a_tampered_group():
    qvp = Group.objects.get(name="qvp")
    qvp.permissions.add(Permission.objects.get(codename="delete_user"))
    call_command("sync_roles", verbosity=0)
    assert group_perms("qvp") == role_model_permissions("qvp")


def test_memberships_follow_the_user_type():
    quinn = UserFactory(username="quinn", qvp=True)
    alice = UserFactory(username="alice")
    quinn.groups.clear()
    alice.groups.add(Group.objects.get(name="admin"))  # a stray membership
    type(alice).objects.filter(pk=alice.pk).update(is_superuser=True)  # stale flag
    role_groups_sync()
    assert list(quinn.groups.values_list("name", flat=True)) == ["qvp"]
    alice.refresh_from_db()
    assert not alice.groups.exists() and alice.is_superuser is False


def test_qvp_sees_in_the_admin_only_what_the_matrix_allows():
    quinn = UserFactory(username="quinn", qvp=True)
    client = admin_client(quinn)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get("/admin/audit/auditlog/").status_code == 403
    alice = UserFactory(username="alice")
    assert client.post(f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(alice).objects.filter(pk=alice.pk).exists()


def test_admin_sees_users_and_the_audit_log_read_only():
    ada = UserFactory(username="ada", admin=True)
    client = admin_client(ada)
    assert client.get("/admin/accounts/user/").status_code == 200
    assert client.get("/admin/audit/auditlog/").status_code == 200
    assert client.get("/admin/audit/auditlog/add/").status_code == 403


def test_regular_users_are_not_let_into_the_admin():
    alice = UserFactory(username="alice")
    response = admin_client(alice).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_log_in_to_the_admin_with_djangos_own_form():
    ada = UserFactory(username="ada", admin=True)
    client = Client()
    response = client.post("/admin/login/", {"username": ada.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@override_settings(AXES_FAILURE_LIMIT=2)
def test_admin_login_is_locked_out_too():
    ada = UserFactory(username="ada", admin=True)
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": ada.email, "password": "wrong-guess-1"})
    response = client.post("/admin/login/", {"username": ada.email, "password": TEST_PASSWORD})
    assert response.status_code == 429
