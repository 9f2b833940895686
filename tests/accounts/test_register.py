import uuid

import pytest
from django.test import override_settings

from accounts.models import User, UserStatus, UserType
from audit.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/auth/register"
GOOD = {"email": "Dave@Example.com", "username": "dave", "password": "a-Long-passphrase-9"}


def test_register_creates_a_pending_regular_account(api_client):
    response = api_client.post(URL, GOOD, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "pending"
    assert "password" not in body["data"]
    user = User.objects.get(username="dave")
    assert user.email == "dave@example.com"  # stored lower-case
    assert (user.status, user.is_approved, user.user_type) == (UserStatus.PENDING, False, UserType.REGULAR)
    assert user.check_password(GOOD["password"])
    assert not user.password.startswith(GOOD["password"])
    row = AuditLog.objects.get(action_type="auth.register")
    assert row.target_id == str(user.pk)
    assert GOOD["password"] not in str(row.details)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"username": "Dave"}, "username"),  # upper case
        ({"username": "da"}, "username"),  # too short
        ({"username": "d" * 33}, "username"),  # too long
        ({"username": "dave-"}, "username"),
        ({"username": "1dave"}, "username"),
        ({"username": "da--ve"}, "username"),
        ({"username": "../etc"}, "username"),
        ({"username": "dave;rm"}, "username"),
        ({"username": "da ve"}, "username"),
        ({"username": "admin"}, "username"),  # reserved
        ({"username": "api"}, "username"),
        ({"username": "jupyter"}, "username"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),  # common
        ({"password": "12345678901234"}, "password"),  # numeric
        ({"password": "dave@example.com"}, "password"),  # similar to the email
        ({"password": ""}, "password"),
    ],
)
def test_refusals_are_400_naming_the_field(api_client, change, field):
    response = api_client.post(URL, {**GOOD, **change}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["success"] is False
    assert body["message"].startswith(f"{field}:") or body["message"].startswith(f"Invalid input: {field}:")
    assert not User.objects.filter(username=change.get("username", "dave")).exists()


@pytest.mark.parametrize("field", ["email", "username", "password"])
def test_missing_field_is_named(api_client, field):
    response = api_client.post(URL, {k: v for k, v in GOOD.items() if k != field}, format="json")
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_email_is_unique_case_insensitively(api_client):
    UserFactory(username="dave2", email="dave@example.com")
    response = api_client.post(URL, {**GOOD, "email": "DAVE@EXAMPLE.COM"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("email:")
    assert User.objects.filter(email__iexact="dave@example.com").count() == 1


def test_username_is_unique(api_client):
    UserFactory(username="dave")
    response = api_client.post(URL, {**GOOD, "email": "other@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("username:")


def test_non_json_garbage_is_a_400(api_client):
    response = api_client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["success"] is False


@override_settings(REGISTER_RATE_LIMIT="2/minute", TRUSTED_PROXY_COUNT=1)
def test_sign_ups_are_rate_limited_per_client_address(api_client):
    address = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"  # unique per run
    tag = uuid.uuid4().hex[:8]

    def register(n: int, forwarded: str):
        payload = {"email": f"r{n}{tag}@example.com", "username": f"r{n}-{tag}"}
        payload["password"] = "a-Long-passphrase-9"
        return api_client.post(URL, payload, format="json", HTTP_X_FORWARDED_FOR=forwarded)

    assert register(1, f"6.6.6.1, {address}").status_code == 201
    assert register(2, f"6.6.6.2, {address}").status_code == 201
    response = register(3, f"6.6.6.3, {address}")  # a forged left part does not help
    assert response.status_code == 429
    assert response.json()["success"] is False and "Retry-After" in response
    assert not User.objects.filter(username=f"r3-{tag}").exists()
