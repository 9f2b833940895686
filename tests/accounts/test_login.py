from datetime import timedelta

import bcrypt
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import User, UserSession
from accounts.services import user_import_legacy
from accounts.tokens import token_hash
from audit.models import AuditLog
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/auth/login"
PRODUCTION_HASHERS = [h for h in settings.PASSWORD_HASHERS if "MD5" not in h]


def login(client, email, password=TEST_PASSWORD, **extra):
    return client.post(URL, {"email": email, "password": password}, format="json", **extra)


def test_login_returns_token_user_redirect_and_sets_a_safe_cookie(api_client, alice):
    before = timezone.now()
    response = login(api_client, "ALICE@example.com ", HTTP_USER_AGENT="pytest-agent")
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["user"]["username"] == "alice"
    assert data["redirect_url"] == "/workspace"  # until a workspace exists
    token = data["token"]
    assert len(token) >= 40
    cookie = response.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE]
    assert cookie.value == token
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == int(settings.SESSION_TOKEN_LIFETIME.total_seconds())
    assert not cookie["secure"]  # development; production sets SESSION_COOKIE_SECURE
    session = UserSession.objects.get(user=alice)
    assert session.token_hash == token_hash(token) and token not in session.token_hash
    assert session.user_agent == "pytest-agent"
    assert session.ip_address == "127.0.0.1"
    assert session.expires_at > before + settings.SESSION_TOKEN_LIFETIME - timezone.timedelta(minutes=1)
    alice.refresh_from_db()
    assert alice.last_login is not None and alice.last_login >= before
    row = AuditLog.objects.get(action_type="auth.login")
    assert row.actor_id == alice.pk and row.ip_address == "127.0.0.1" and row.request_id
    assert token not in str(row.details)
    # The token works at once.
    me = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["data"]["username"] == "alice"


@override_settings(SESSION_COOKIE_SECURE=True)
def test_cookie_is_secure_when_configured(api_client, alice):
    response = login(api_client, alice.email)
    assert response.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE]["secure"] is True


def test_operator_redirects_to_admin_and_explicit_redirect_wins(api_client, qvp_user, alice):
    assert login(api_client, qvp_user.email).json()["data"]["redirect_url"] == "/admin/"
    alice.redirect_url = "/custom/"
    alice.save()
    assert login(api_client, alice.email).json()["data"]["redirect_url"] == "/custom/"


def test_wrong_password_is_401_and_audited_without_the_password(api_client, alice):
    response = login(api_client, alice.email, "wrong-password-1")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid email or password."
    assert not UserSession.objects.exists()
    row = AuditLog.objects.get(action_type="auth.login_failed")
    assert row.details["email"] == alice.email and row.log_level == "warning"
    assert "wrong-password-1" not in str(row.details)


def test_unknown_email_is_the_same_401(api_client):
    response = login(api_client, "nobody@example.com")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid email or password."


@pytest.mark.parametrize(
    ("traits", "message"),
    [
        ({"pending": True}, "waiting for an operator's approval"),
        (
            {"rejected": True, "metadata": {"rejection_reason": "not on the team"}},
            "rejected: not on the team",
        ),
        ({"disabled": True}, "disabled"),
    ],
)
def test_accounts_not_active_get_403_saying_why(api_client, traits, message):
    user = UserFactory(username="carol", **traits)
    response = login(api_client, user.email)
    assert response.status_code == 403
    assert message in response.json()["message"]
    assert not UserSession.objects.filter(user=user).exists()
    assert AuditLog.objects.filter(action_type="auth.login_failed").count() == 1


def test_missing_fields_are_400(api_client):
    response = api_client.post(URL, {"email": "a@example.com"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["message"]


@override_settings(AXES_FAILURE_LIMIT=3, TRUSTED_PROXY_COUNT=1)
def test_lockout_survives_a_rotating_x_forwarded_for(api_client, alice):
    # Behind one proxy: the attacker controls everything left of the proxy's own entry.
    for n in range(3):
        spoofed = f"10.9.{n}.1, 203.0.113.7"
        response = login(api_client, alice.email, "bad-guess-123", HTTP_X_FORWARDED_FOR=spoofed)
        assert response.status_code in (401, 429)
    response = login(api_client, alice.email, HTTP_X_FORWARDED_FOR="10.9.99.1, 203.0.113.7")
    assert response.status_code == 429
    assert response.json()["success"] is False
    assert "Too many failed logins" in response.json()["message"]
    assert not UserSession.objects.exists()
    assert AuditLog.objects.filter(action_type="auth.login_failed", details__reason="locked out").exists()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_lockout_is_per_account_and_address_pair(api_client, alice, bob):
    """Issue #15: a classroom behind one address is not locked out together, and a guesser
    elsewhere does not lock the owner out."""
    for _ in range(3):
        login(api_client, alice.email, "bad-guess-123", REMOTE_ADDR="198.51.100.9")
    assert login(api_client, alice.email, REMOTE_ADDR="198.51.100.9").status_code == 429
    assert login(api_client, bob.email, REMOTE_ADDR="198.51.100.9").status_code == 200  # same address
    assert login(api_client, alice.email, REMOTE_ADDR="198.51.100.10").status_code == 200  # elsewhere


@override_settings(AXES_FAILURE_LIMIT=3, AXES_COOLOFF_TIME=timedelta(minutes=15))
def test_the_last_try_is_announced_and_the_lockout_names_its_length(api_client, alice):
    assert login(api_client, alice.email, "bad-guess-123").json()["message"] == "Invalid email or password."
    warned = login(api_client, alice.email, "bad-guess-123").json()["message"]
    assert warned == (
        "Invalid email or password. One more failure locks this account out from this address for 15 minutes."
    )
    login(api_client, alice.email, "bad-guess-123")
    locked = login(api_client, alice.email)
    assert locked.status_code == 429
    assert "try again in 15 minutes" in locked.json()["message"]


@override_settings(AXES_FAILURE_LIMIT=3)
def test_success_before_the_limit_resets_the_count(api_client, alice):
    for _ in range(2):
        login(api_client, alice.email, "bad-guess-123")
    assert login(api_client, alice.email).status_code == 200
    for _ in range(2):
        login(api_client, alice.email, "bad-guess-123")
    assert login(api_client, alice.email).status_code == 200


@override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS)
def test_production_hashes_new_passwords_with_argon2(api_client):
    response = api_client.post(
        "/api/auth/register",
        {"email": "erin@example.com", "username": "erin", "password": "a-Long-passphrase-9"},
        format="json",
    )
    assert response.status_code == 201
    assert User.objects.get(username="erin").password.startswith("argon2$argon2id$")


@override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS)
def test_bcrypt_hash_of_the_original_logs_in_and_is_upgraded_to_argon2(api_client):
    legacy = bcrypt.hashpw(b"old-platform-pass", bcrypt.gensalt(rounds=12)).decode()
    assert legacy.startswith("$2b$12$")
    user = user_import_legacy(email="olga@example.com", username="olga", bcrypt_hash=legacy)
    assert user.password == "bcrypt$" + legacy
    response = login(api_client, "olga@example.com", "old-platform-pass")
    assert response.status_code == 200, response.json()
    user.refresh_from_db()
    assert user.password.startswith("argon2$")
    assert user.check_password("old-platform-pass")
    assert login(api_client, "olga@example.com", "wrong-pass-123").status_code == 401


@override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS)
def test_long_passwords_against_a_legacy_hash_are_not_a_500(api_client):
    long_password = "p" * 80 + "-Tail-1"
    # The original's bcrypt used the first 72 bytes of a password.
    legacy = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    user_import_legacy(email="lena@example.com", username="lena", bcrypt_hash=legacy)
    assert login(api_client, "lena@example.com", "q" * 100).status_code == 401
    assert login(api_client, "lena@example.com", long_password).status_code == 200
    assert User.objects.get(username="lena").password.startswith("argon2$")


def test_staff_sign_in_once_at_login_and_reach_the_admin(admin_user, alice):
    """Issue #15: /login signs staff into the admin too; logging out ends both."""
    from django.test import Client

    client = Client()
    answer = client.post("/login", {"email": admin_user.email, "password": TEST_PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200  # no second log-in
    client.post("/logout")
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    person = Client()
    person.post("/login", {"email": alice.email, "password": TEST_PASSWORD})
    assert person.get("/admin/")["Location"].startswith("/admin/login/")  # people stay out
