from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import UserSession
from accounts.services import session_create, user_password_reset, user_update
from accounts.tokens import token_hash
from audit.models import AuditLog
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_tokens_are_not_stored_in_clear(alice):
    session, token = session_create(user=alice)
    stored = UserSession.objects.get(pk=session.pk)
    assert stored.token_hash == token_hash(token) != token
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_usersession")
        assert token not in repr(cursor.fetchall())


def test_anonymous_gets_401_with_a_bearer_challenge(api_client):
    response = api_client.get("/api/auth/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["success"] is False


@pytest.mark.parametrize("header", ["Bearer not-a-real-token", "Bearer ", "Bearer"])
def test_unknown_or_empty_bearer_token_is_401(api_client, header):
    response = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_expired_token_is_401(api_client, alice):
    session, token = session_create(user=alice)
    UserSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_client.get("/api/auth/me", **bearer(token)).status_code == 401


def test_logout_revokes_the_current_session_only(alice):
    first, first_token = session_create(user=alice)
    _, second_token = session_create(user=alice)
    client = APIClient()
    response = client.post("/api/auth/logout", **bearer(first_token))
    assert response.status_code == 200
    assert response.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE].value == ""  # cookie cleared
    assert client.get("/api/auth/me", **bearer(first_token)).status_code == 401
    assert client.get("/api/auth/me", **bearer(second_token)).status_code == 200
    first.refresh_from_db()
    assert first.is_active is False and first.revoked_at is not None
    row = AuditLog.objects.get(action_type="auth.logout")
    assert row.actor_id == alice.pk


def test_password_reset_revokes_every_session(alice, admin_user):
    tokens = [session_create(user=alice)[1] for _ in range(2)]
    user_password_reset(actor=admin_user, user=alice, password="brand-New-passphrase-5")
    client = APIClient()
    for token in tokens:
        assert client.get("/api/auth/me", **bearer(token)).status_code == 401


def test_disabling_revokes_every_session(alice, admin_user):
    _, token = session_create(user=alice)
    user_update(actor=admin_user, user=alice, status="disabled")
    assert APIClient().get("/api/auth/me", **bearer(token)).status_code == 401


def test_role_change_revokes_every_session(alice, admin_user):
    _, token = session_create(user=alice)
    user_update(actor=admin_user, user=alice, user_type="qvp")
    assert APIClient().get("/api/auth/me", **bearer(token)).status_code == 401


def test_me_shows_role_and_status(alice_api):
    data = alice_api.get("/api/auth/me").json()["data"]
    assert data["username"] == "alice"
    assert data["user_type"] == "regular" and data["status"] == "active" and data["is_staff"] is False


def test_last_seen_is_recorded_at_most_once_a_minute(alice):
    session, token = session_create(user=alice)
    client = APIClient()
    client.get("/api/auth/me", **bearer(token))
    session.refresh_from_db()
    first = session.last_seen
    assert first is not None
    client.get("/api/auth/me", **bearer(token))
    session.refresh_from_db()
    assert session.last_seen == first


class TestCookieAuthentication:
    """The workspace cookie authenticates too; unsafe requests then need CSRF."""

    def login(self, alice) -> APIClient:
        client = APIClient(enforce_csrf_checks=True)
        response = client.post(
            "/api/auth/login", {"email": alice.email, "password": TEST_PASSWORD}, format="json"
        )
        assert response.status_code == 200
        assert settings.CSRF_COOKIE_NAME in response.cookies
        return client

    def test_cookie_authenticates_safe_requests(self, alice):
        client = self.login(alice)
        assert client.get("/api/auth/me").json()["data"]["username"] == "alice"

    def test_cookie_authenticated_unsafe_request_without_csrf_is_403(self, alice):
        client = self.login(alice)
        response = client.post("/api/auth/logout")
        assert response.status_code == 403
        assert "CSRF" in response.json()["message"]
        assert UserSession.objects.live().filter(user=alice).exists()

    def test_cookie_authenticated_unsafe_request_with_csrf_passes(self, alice):
        client = self.login(alice)
        csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
        response = client.post("/api/auth/logout", HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 200
        assert not UserSession.objects.live().filter(user=alice).exists()

    def test_bearer_requests_need_no_csrf(self, alice_api):
        alice_api.handler.enforce_csrf_checks = True
        assert alice_api.post("/api/auth/logout").status_code == 200

    def test_a_stale_cookie_is_anonymous(self, alice):
        client = self.login(alice)
        UserSession.objects.filter(user=alice).update(is_active=False)
        assert client.get("/api/auth/me").status_code == 401
        assert client.get("/api/health").status_code == 200
