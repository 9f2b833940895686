import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import user_password_reset, user_reject, user_update
from audit.models import AuditLog, AuditSource
from audit.services import audit_log_record
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/admin/audit-logs"


class TestList:
    def test_filters(self, admin_api, admin_user, alice):
        audit_log_record(action="user.update", actor=admin_user, target=alice)
        audit_log_record(action="auth.login_failed", level="warning", details={"email": "x@example.com"})
        audit_log_record(action="build.start", actor=alice, source=AuditSource.WORKER)

        def actions(query: str) -> list[str]:
            response = admin_api.get(f"{URL}?{query}")
            assert response.status_code == 200, response.json()
            return sorted(r["action_type"] for r in response.json()["data"]["results"])

        assert actions(f"user={admin_user.username}") == ["user.update"]
        assert actions(f"user={alice.pk}") == ["build.start"]
        assert actions("action=auth.") == ["auth.login_failed"]
        assert actions("level=warning") == ["auth.login_failed"]
        assert actions("source=worker") == ["build.start"]
        now = timezone.now()
        since = (now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        until = (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        assert len(actions(f"since={since}")) == 3
        assert actions(f"until={until}") == []
        assert actions(f"target_type=accounts.user&target_id={alice.pk}") == ["user.update"]

    def test_pagination(self, admin_api):
        for n in range(5):
            audit_log_record(action=f"test.{n}")
        body = admin_api.get(f"{URL}?page_size=2").json()["data"]
        assert body["count"] == 5 and len(body["results"]) == 2
        assert body["results"][0]["action_type"] == "test.4"  # newest first

    @pytest.mark.parametrize("query", ["since=yesterday", "level=fatal", "page=abc"])
    def test_bad_filters_are_4xx_not_500(self, admin_api, query):
        response = admin_api.get(f"{URL}?{query}")
        assert response.status_code in (400, 404)
        assert response.json()["success"] is False

    def test_no_write_methods(self, admin_api):
        row = audit_log_record(action="test.x")
        assert admin_api.post(URL, {"action_type": "forged"}, format="json").status_code == 405
        assert admin_api.delete(f"{URL}/{row.pk}").status_code == 404
        assert AuditLog.objects.count() == 1


class TestExport:
    def test_csv_with_filters_and_no_formula_injection(self, admin_api, admin_user):
        audit_log_record(action="user.update", actor=admin_user, details={"note": "=HYPERLINK(1)"})
        audit_log_record(action="auth.login")
        response = admin_api.get(f"{URL}/export?action=user.")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][:3] == ["created_at", "username", "action_type"]
        assert len(rows) == 2 and rows[1][2] == "user.update"
        forged = AuditLog.objects.create(action_type="=cmd|' /C calc'!A0")
        response = admin_api.get(f"{URL}/export?action=%3Dcmd")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[1][2].startswith("'=")
        assert forged.pk

    def test_export_refused_to_non_admins(self, qvp_api):
        assert qvp_api.get(f"{URL}/export").status_code == 403


class TestAppendOnly:
    def test_rows_cannot_be_changed_or_deleted(self):
        row = audit_log_record(action="test.x")
        row.action_type = "forged"
        with pytest.raises(RuntimeError):
            row.save()
        with pytest.raises(RuntimeError):
            row.delete()
        assert AuditLog.objects.get(pk=row.pk).action_type == "test.x"

    def test_admin_is_read_only(self):
        ada = UserFactory(username="ada", admin=True)
        row = audit_log_record(action="test.x")
        client = Client()
        client.force_login(ada, backend="django.contrib.auth.backends.AllowAllUsersModelBackend")
        assert client.get(f"/admin/audit/auditlog/{row.pk}/change/").status_code == 200  # view only
        client.post(f"/admin/audit/auditlog/{row.pk}/change/", {"action_type": "forged"})
        assert client.post(f"/admin/audit/auditlog/{row.pk}/delete/", {"post": "yes"}).status_code == 403
        assert AuditLog.objects.get(pk=row.pk).action_type == "test.x"


class TestEveryAdminActionIsAuditedOnce:
    """Each admin action → exactly one row with actor and target; no secret anywhere."""

    SECRET = "Sup3r-secret-passphrase"

    def actions(self, admin_api, alice, carol):
        return [
            (
                "user.update",
                lambda: admin_api.patch(f"/api/users/{alice.pk}", {"metadata": {"a": 1}}, format="json"),
            ),
            (
                "user.password_reset",
                lambda: admin_api.post(
                    f"/api/admin/users/{alice.pk}/reset-password", {"password": self.SECRET}, format="json"
                ),
            ),
            ("user.reject", lambda: admin_api.post(f"/api/admin/users/{carol.pk}/reject", {"reason": "no"})),
            ("user.delete", lambda: admin_api.delete(f"/api/users/{alice.pk}")),
        ]

    def test_one_row_each(self, admin_api, admin_user, alice):
        carol = UserFactory(username="carol", pending=True)
        for action, call in self.actions(admin_api, alice, carol):
            before = AuditLog.objects.count()
            response = call()
            assert response.status_code == 200, (action, response.json())
            assert AuditLog.objects.count() == before + 1, action
            row = AuditLog.objects.order_by("-id").first()
            assert row.action_type == action
            assert row.actor_id == admin_user.pk and row.username == admin_user.username
            assert row.target_type == "accounts.user" and row.target_id
            assert row.ip_address == "127.0.0.1" and row.request_id

    def test_no_row_holds_a_password_or_token(self, api_client, admin_api, alice):
        login = api_client.post(
            "/api/auth/login", {"email": alice.email, "password": TEST_PASSWORD}, format="json"
        )
        token = login.json()["data"]["token"]
        api_client.post("/api/auth/login", {"email": alice.email, "password": self.SECRET}, format="json")
        api_client.post("/api/auth/logout", HTTP_AUTHORIZATION=f"Bearer {token}")
        admin_api.post(
            f"/api/admin/users/{alice.pk}/reset-password", {"password": self.SECRET}, format="json"
        )
        api_client.post(
            "/api/auth/register",
            {"email": "dan@example.com", "username": "dan", "password": self.SECRET},
            format="json",
        )
        dump = repr(list(AuditLog.objects.values()))
        for secret in (self.SECRET, TEST_PASSWORD, token):
            assert secret not in dump
        assert {
            "auth.login",
            "auth.login_failed",
            "auth.logout",
            "user.password_reset",
            "auth.register",
        } <= set(AuditLog.objects.values_list("action_type", flat=True))

    def test_a_failed_action_writes_no_row(self, admin_api, admin_user):
        before = AuditLog.objects.count()
        assert admin_api.delete(f"/api/users/{admin_user.pk}").status_code == 409
        assert AuditLog.objects.count() == before

    def test_services_called_directly_audit_too(self, admin_user, alice):
        carol = UserFactory(username="carol", pending=True)
        user_update(actor=admin_user, user=alice, status="disabled")
        user_password_reset(actor=admin_user, user=alice, password=self.SECRET)
        user_reject(actor=admin_user, user=carol, reason="no")
        rows = AuditLog.objects.filter(actor=admin_user)
        assert sorted(rows.values_list("action_type", flat=True)) == [
            "user.password_reset", "user.reject", "user.update",
        ]  # fmt: skip
        assert all(r.ip_address is None and r.request_id == "" for r in rows)  # no request here


@pytest.mark.django_db
def test_an_unknown_source_is_refused_and_the_known_ones_are_one_vocabulary():
    with pytest.raises(ValueError, match="celery"):
        audit_log_record(action="build.start", source="celery")
    row = audit_log_record(action="build.start", source="worker")  # the enum's value is accepted
    assert row.source == AuditSource.WORKER
