"""A regular user sends each privileged field to each endpoint they can write: nothing changes."""

import pytest
from django.forms.models import model_to_dict

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PRIVILEGED = {
    "user_type": "admin",
    "is_admin": True,
    "is_staff": True,
    "is_superuser": True,
    "is_approved": True,
    "is_active": True,
    "status": "active",
    "groups": [1],
    "user_permissions": [1],
    "metadata": {"quota": "unlimited"},
    "redirect_url": "/admin/",
    "password": "pwned-Passphrase-77",
    "id": 1,
    "username": "root",
}


def snapshot(user: User) -> dict:
    user = User.objects.get(pk=user.pk)
    data = model_to_dict(user)
    data["groups"] = sorted(g.pk for g in data["groups"])
    data["user_permissions"] = sorted(p.pk for p in data["user_permissions"])
    data["password"] = user.password
    data["last_login"] = user.last_login
    return data


@pytest.mark.parametrize(("field", "value"), PRIVILEGED.items())
def test_self_update_refuses_privileged_fields(alice, alice_api, field, value):
    before = snapshot(alice)
    response = alice_api.patch(f"/api/users/{alice.pk}", {field: value}, format="json")
    assert response.status_code in (400, 403)
    assert field in response.json()["message"] or field in str(response.json()["data"])
    assert snapshot(alice) == before


@pytest.mark.parametrize(("field", "value"), PRIVILEGED.items())
def test_self_update_with_an_allowed_field_still_changes_nothing_privileged(alice, alice_api, field, value):
    before = snapshot(alice)
    alice_api.patch(f"/api/users/{alice.pk}", {"email": "new@example.com", field: value}, format="json")
    assert snapshot(alice) == before  # the whole request is refused


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, v in PRIVILEGED.items() if f not in ("username", "password")]
)
def test_register_refuses_privileged_fields(api_client, field, value):
    payload = {
        "email": "mal@example.com",
        "username": "mallory",
        "password": "a-Long-passphrase-9",
        field: value,
    }
    response = api_client.post("/api/auth/register", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["message"]
    assert not User.objects.filter(username="mallory").exists()


@pytest.mark.parametrize(("field", "value"), PRIVILEGED.items())
def test_a_regular_user_cannot_write_to_someone_else(alice, bob_api, field, value):
    before = snapshot(alice)
    response = bob_api.patch(f"/api/users/{alice.pk}", {field: value}, format="json")
    assert response.status_code == 404
    assert snapshot(alice) == before


def test_qvp_cannot_raise_their_own_rights(qvp_user, qvp_api):
    before = snapshot(qvp_user)
    for field, value in PRIVILEGED.items():
        qvp_api.patch(f"/api/users/{qvp_user.pk}", {field: value}, format="json")
    assert snapshot(qvp_user) == before


def test_pending_user_cannot_raise_rights_through_register_twice(api_client):
    pending = UserFactory(username="carol", pending=True)
    before = snapshot(pending)
    payload = {
        "email": pending.email,
        "username": "carol",
        "password": "a-Long-passphrase-9",
        "status": "active",
    }
    assert api_client.post("/api/auth/register", payload, format="json").status_code == 400
    assert snapshot(pending) == before
