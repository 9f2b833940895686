import uuid

import pytest
from django.contrib.auth.hashers import get_hasher
from django.test import override_settings

from accounts.models import User, UserStatus, UserType
from audit.models import AuditLog, LogLevel
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


def _answer(response) -> tuple:
    """What a client sees: status, message, body shape (values of fields it did not send)."""
    body = response.json()
    data = body["data"]
    return response.status_code, body["success"], body["message"], sorted(data), data["status"]


def test_sign_up_answers_the_same_whether_or_not_the_email_has_an_account(
    api_client, django_capture_on_commit_callbacks, mailoutbox
):
    """Issue #14 D8: the answer does not tell whether an address has an account."""
    owner = UserFactory(username="dave2", email="dave@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        taken = api_client.post(URL, {**GOOD, "email": "DAVE@EXAMPLE.COM"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        fresh = api_client.post(URL, {**GOOD, "email": "fresh@x.org", "username": "fresh"}, format="json")
    assert _answer(taken) == _answer(fresh)
    assert taken.status_code == 201
    assert taken.json()["data"] == {"username": "dave", "email": "dave@example.com", "status": "pending"}
    # No second account for the address, and the owner's account is untouched.
    assert User.objects.filter(email__iexact="dave@example.com").count() == 1
    assert not User.objects.filter(username="dave").exists()
    owner_before = owner.password
    owner.refresh_from_db()
    assert owner.password == owner_before and owner.status == UserStatus.ACTIVE
    # The owner of the address is told, and only they are.
    assert [m.to for m in mailoutbox] == [["dave@example.com"]]
    assert "sign up" in mailoutbox[0].subject and "dave2" in mailoutbox[0].body
    assert GOOD["password"] not in mailoutbox[0].body
    row = AuditLog.objects.get(action_type="auth.register_existing_email")
    assert row.target_id == str(owner.pk) and row.log_level == LogLevel.WARNING
    assert GOOD["password"] not in str(row.details)


def test_sign_up_page_answers_the_same_whether_or_not_the_email_has_an_account(
    client, django_capture_on_commit_callbacks, mailoutbox
):
    UserFactory(username="dave2", email="dave@example.com")

    def sign_up(email: str, username: str):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/register", {**GOOD, "email": email, "username": username}, follow=True)
        notes = [str(m) for m in response.context["messages"]]
        return response.status_code, response.redirect_chain, notes

    assert sign_up("Dave@Example.com", "dave") == sign_up("fresh@example.com", "fresh")
    assert sign_up("x@example.com", "x-y")[1] == [("/login", 302)]
    assert User.objects.filter(email__iexact="dave@example.com").count() == 1
    assert [m.to for m in mailoutbox] == [["dave@example.com"]]


def test_a_taken_username_is_still_said_whatever_the_email(api_client, mailoutbox):
    UserFactory(username="dave", email="dave@example.com")
    for email in ("dave@example.com", "other@example.com"):
        response = api_client.post(URL, {**GOOD, "email": email}, format="json")
        assert response.status_code == 409
        assert response.json()["message"].startswith("username:")
    assert mailoutbox == []


def test_an_existing_email_is_hashed_like_a_new_account(api_client, monkeypatch):
    """No timing tell: the password is hashed on both paths (counted through the real hasher, not timed)."""
    hasher = type(get_hasher())
    calls = []
    encode = hasher.encode
    monkeypatch.setattr(hasher, "encode", lambda self, *a, **k: calls.append(1) or encode(self, *a, **k))
    UserFactory(username="dave2", email="dave@example.com")
    calls.clear()
    api_client.post(URL, GOOD, format="json")
    assert len(calls) == 1
    api_client.post(URL, {**GOOD, "email": "fresh@example.com", "username": "fresh"}, format="json")
    assert len(calls) == 2


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
