"""Only active accounts pass any door: a pending (or rejected) sign-up with an operator role gets
nowhere, neither through the admin's login, nor with a session, nor through the browsable API."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
BACKEND = "django.contrib.auth.backends.AllowAllUsersModelBackend"
NOT_ACTIVE = ["pending", "rejected"]


def session_of(user) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


@pytest.mark.parametrize("state", NOT_ACTIVE)
def test_a_not_yet_active_qvp_cannot_log_in_to_the_admin(state):
    quinn = UserFactory(username="quinn", qvp=True, **{state: True})
    client = Client()
    response = client.post("/admin/login/", {"username": quinn.email, "password": TEST_PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect into the admin
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("state", NOT_ACTIVE)
def test_a_not_yet_active_qvp_with_a_session_sees_no_admin_page(state):
    client = session_of(UserFactory(username="quinn", qvp=True, **{state: True}))
    for page in ("/admin/", "/admin/servers/server/", "/admin/builds/build/", "/admin/registry/registry/"):
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], page


def test_a_pending_admin_with_a_session_sees_no_admin_page():
    client = session_of(UserFactory(username="ada", admin=True, pending=True))
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("state", NOT_ACTIVE)
def test_a_not_yet_active_qvp_with_a_session_gets_nothing_from_the_api(state):
    client = session_of(UserFactory(username="quinn", qvp=True, **{state: True}))
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/servers").status_code == 401


def test_the_browsable_apis_login_refuses_a_pending_account():
    quinn = UserFactory(username="quinn", qvp=True, pending=True)
    client = Client()
    response = client.post("/api-auth/login/", {"username": quinn.email, "password": TEST_PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_an_active_qvp_still_passes_every_door():
    quinn = UserFactory(username="quinn", qvp=True)
    client = Client()
    assert (
        client.post("/admin/login/", {"username": quinn.email, "password": TEST_PASSWORD}).status_code == 302
    )
    assert client.get("/admin/servers/server/").status_code == 200
    assert client.get("/api/auth/me").status_code == 200
    other = Client()
    assert (
        other.post("/api-auth/login/", {"username": quinn.email, "password": TEST_PASSWORD}).status_code
        == 302
    )
