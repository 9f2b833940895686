import pytest

from accounts.models import User, UserSession, UserStatus
from accounts.services import session_create
from audit.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def detail(user) -> str:
    return f"/api/users/{user.pk}"


class TestList:
    def test_filters_search_and_pagination(self, admin_api, admin_user):
        UserFactory(username="pam", pending=True)
        UserFactory(username="pat", pending=True)
        UserFactory(username="quinn", qvp=True)
        UserFactory(username="rex")
        body = admin_api.get("/api/admin/users?status=pending").json()["data"]
        assert sorted(u["username"] for u in body["results"]) == ["pam", "pat"]
        body = admin_api.get("/api/admin/users?type=qvp").json()["data"]
        assert [u["username"] for u in body["results"]] == ["quinn"]
        body = admin_api.get("/api/admin/users?search=PA").json()["data"]
        assert sorted(u["username"] for u in body["results"]) == ["pam", "pat"]
        body = admin_api.get("/api/admin/users?page_size=2").json()["data"]
        assert body["count"] == 5 and len(body["results"]) == 2 and body["next"]

    def test_bad_filter_value_is_400(self, admin_api):
        response = admin_api.get("/api/admin/users?status=sleeping")
        assert response.status_code == 400
        assert "status" in response.json()["message"]


class TestDetail:
    def test_self_and_admin_see_the_account(self, alice, alice_api, admin_api):
        assert alice_api.get(detail(alice)).json()["data"]["email"] == alice.email
        assert admin_api.get(detail(alice)).status_code == 200

    def test_someone_elses_account_is_404(self, alice, bob_api, qvp_api):
        assert bob_api.get(detail(alice)).status_code == 404
        assert qvp_api.get(detail(alice)).status_code == 404

    def test_unknown_id_is_404(self, admin_api):
        assert admin_api.get("/api/users/999999").status_code == 404


class TestAdminUpdate:
    def test_admin_changes_type_redirect_and_metadata_with_one_audit_row(self, alice, admin_api, admin_user):
        response = admin_api.patch(
            detail(alice),
            {"user_type": "qvp", "redirect_url": "/alice/jupyter/", "metadata": {"team": "ml"}},
            format="json",
        )
        assert response.status_code == 200, response.json()
        alice.refresh_from_db()
        assert (alice.user_type, alice.redirect_url, alice.metadata) == (
            "qvp",
            "/alice/jupyter/",
            {"team": "ml"},
        )
        assert list(alice.groups.values_list("name", flat=True)) == ["qvp"]
        rows = AuditLog.objects.filter(action_type="user.update")
        assert rows.count() == 1
        row = rows.get()
        assert row.actor_id == admin_user.pk and row.target_id == str(alice.pk)
        assert row.details["changes"]["user_type"] == ["regular", "qvp"]

    def test_disable_and_enable(self, alice, admin_api):
        assert admin_api.patch(detail(alice), {"status": "disabled"}, format="json").status_code == 200
        alice.refresh_from_db()
        assert (alice.status, alice.is_active) == (UserStatus.DISABLED, False)
        assert admin_api.patch(detail(alice), {"status": "active"}, format="json").status_code == 200
        alice.refresh_from_db()
        assert (alice.status, alice.is_active) == (UserStatus.ACTIVE, True)

    def test_pending_cannot_be_activated_here(self, admin_api):
        carol = UserFactory(username="carol", pending=True)
        response = admin_api.patch(detail(carol), {"status": "active"}, format="json")
        assert response.status_code == 409
        assert "approval" in response.json()["message"]
        carol.refresh_from_db()
        assert carol.status == UserStatus.PENDING

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"user_type": "root"}, "user_type"),
            ({"status": "rejected"}, "status"),
            ({"metadata": [1, 2]}, "metadata"),
            ({"redirect_url": "javascript:alert(1)"}, "redirect_url"),
            ({"redirect_url": "//evil.example/"}, "redirect_url"),
            ({"email": "nope"}, "email"),
        ],
    )
    def test_bad_values_are_400_naming_the_field(self, alice, admin_api, payload, field):
        response = admin_api.patch(detail(alice), payload, format="json")
        assert response.status_code == 400
        assert field in response.json()["message"]

    def test_the_last_admin_keeps_the_role_and_nobody_locks_themselves_out(self, admin_user, admin_api):
        response = admin_api.patch(detail(admin_user), {"user_type": "qvp"}, format="json")
        assert response.status_code == 409 and "last active admin" in response.json()["message"]
        response = admin_api.patch(detail(admin_user), {"status": "disabled"}, format="json")
        assert response.status_code == 409 and "your own account" in response.json()["message"]
        admin_user.refresh_from_db()
        assert admin_user.user_type == "admin" and admin_user.is_active


class TestSelfUpdate:
    def test_a_user_may_change_their_own_email(self, alice, alice_api):
        response = alice_api.patch(detail(alice), {"email": "Alice.New@example.com"}, format="json")
        assert response.status_code == 200
        alice.refresh_from_db()
        assert alice.email == "alice.new@example.com"

    def test_email_taken_is_400(self, alice, bob, alice_api):
        response = alice_api.patch(detail(alice), {"email": bob.email.upper()}, format="json")
        assert response.status_code == 400
        assert response.json()["message"].startswith("email:")


class TestResetPassword:
    def test_admin_sets_a_new_password(self, alice, admin_api, api_client):
        _, token = session_create(user=alice)
        response = admin_api.post(
            f"/api/admin/users/{alice.pk}/reset-password",
            {"password": "brand-New-passphrase-5"},
            format="json",
        )
        assert response.status_code == 200
        assert "brand-New-passphrase-5" not in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password("brand-New-passphrase-5")
        assert not UserSession.objects.live().filter(user=alice).exists()
        assert api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401

    def test_weak_password_is_400(self, alice, admin_api):
        response = admin_api.post(
            f"/api/admin/users/{alice.pk}/reset-password", {"password": "123"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["message"].startswith("password:")


class TestReject:
    def test_reject_a_pending_sign_up_with_a_reason(self, admin_api, api_client):
        carol = UserFactory(username="carol", pending=True)
        response = admin_api.post(f"/api/admin/users/{carol.pk}/reject", {"reason": "Unknown"}, format="json")
        assert response.status_code == 200
        carol.refresh_from_db()
        assert carol.status == UserStatus.REJECTED
        assert carol.metadata["rejection_reason"] == "Unknown"
        login = api_client.post(
            "/api/auth/login", {"email": carol.email, "password": "correct-horse-battery-42"}, format="json"
        )
        assert login.status_code == 403 and "Unknown" in login.json()["message"]

    def test_reject_needs_a_reason(self, admin_api):
        carol = UserFactory(username="carol", pending=True)
        response = admin_api.post(f"/api/admin/users/{carol.pk}/reject", {"reason": " "}, format="json")
        assert response.status_code == 400
        assert "reason" in response.json()["message"]

    def test_only_pending_can_be_rejected(self, alice, admin_api):
        response = admin_api.post(f"/api/admin/users/{alice.pk}/reject", {"reason": "x"}, format="json")
        assert response.status_code == 409


class TestDelete:
    def test_admin_deletes_an_account(self, alice, admin_api, admin_user):
        session_create(user=alice)
        assert admin_api.delete(detail(alice)).status_code == 200
        assert not User.objects.filter(pk=alice.pk).exists()
        row = AuditLog.objects.get(action_type="user.delete")
        assert row.actor_id == admin_user.pk and row.target_id == str(alice.pk) and row.target_repr == "alice"

    def test_admin_cannot_delete_themselves(self, admin_user, admin_api):
        UserFactory(username="ops", admin=True)
        assert admin_api.delete(detail(admin_user)).status_code == 409
        assert User.objects.filter(pk=admin_user.pk).exists()
