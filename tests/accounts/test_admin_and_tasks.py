import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import UserSession
from accounts.services import session_create
from accounts.tasks import sessions_purge_expired_task
from audit.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BACKEND = "django.contrib.auth.backends.AllowAllUsersModelBackend"


def test_purge_task_deletes_only_long_expired_sessions(alice):
    old, _ = session_create(user=alice)
    recent, _ = session_create(user=alice)
    live, _ = session_create(user=alice)
    UserSession.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=31))
    UserSession.objects.filter(pk=recent.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert sessions_purge_expired_task.delay().get() == 1
    assert set(UserSession.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
    assert sessions_purge_expired_task.delay().get() == 0  # idempotent


def test_admin_actions_go_through_the_services(alice):
    ada = UserFactory(username="ada", admin=True)
    session_create(user=alice)
    client = Client()
    client.force_login(ada, backend=BACKEND)
    response = client.post(
        "/admin/accounts/user/", {"action": "disable_accounts", "_selected_action": [alice.pk]}, follow=True
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.status == "disabled" and alice.is_active is False
    assert not UserSession.objects.live().filter(user=alice).exists()
    assert AuditLog.objects.filter(action_type="user.update", actor=ada, target_id=str(alice.pk)).count() == 1


def test_admin_change_form_edits_redirect_url_with_an_audit_row(alice):
    ada = UserFactory(username="ada", admin=True)
    client = Client()
    client.force_login(ada, backend=BACKEND)
    response = client.post(
        f"/admin/accounts/user/{alice.pk}/change/",
        {"redirect_url": "/alice/jupyter/", "metadata": json.dumps({"team": "ml"})},
    )
    assert response.status_code == 302, response.content[:500]
    alice.refresh_from_db()
    assert alice.redirect_url == "/alice/jupyter/" and alice.metadata == {"team": "ml"}
    assert alice.user_type == "regular"
    assert AuditLog.objects.filter(action_type="user.update", actor=ada).count() == 1


def test_the_schema_documents_the_endpoints():
    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    paths = json.loads(out.getvalue())["paths"]
    for route in (
        "/api/auth/register", "/api/auth/login", "/api/auth/logout", "/api/auth/me",
        "/api/admin/users", "/api/users/{id}", "/api/admin/users/{id}/reset-password",
        "/api/admin/users/{id}/reject", "/api/admin/audit-logs", "/api/admin/audit-logs/export",
    ):  # fmt: skip
        assert route in paths, route
