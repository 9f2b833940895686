import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.selectors import workspace_owner_from_uri
from accounts.services import session_create, user_update

pytestmark = pytest.mark.django_db

URL = "/api/auth/verify"


def cookie_client(user) -> APIClient:
    _, token = session_create(user=user)
    client = APIClient()
    client.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE] = token
    return client


def test_owner_passes_with_the_cookie_and_the_user_is_named(alice):
    response = cookie_client(alice).get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/?folder=/home")
    assert response.status_code == 200
    assert response["X-Auth-User"] == "alice"


def test_someone_elses_workspace_is_403(alice, bob):
    assert cookie_client(bob).get(URL, HTTP_X_ORIGINAL_URI="/alice/jupyter/lab").status_code == 403


def test_admin_passes_everywhere(alice, admin_user):
    assert cookie_client(admin_user).get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/").status_code == 200


def test_qvp_is_not_an_admin_here(alice, qvp_user):
    assert cookie_client(qvp_user).get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/").status_code == 403


def test_not_logged_in_is_401(api_client, alice):
    assert api_client.get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/").status_code == 401
    api_client.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE] = "forged"
    assert api_client.get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/").status_code == 401


def test_disabled_user_is_401(alice, admin_user):
    client = cookie_client(alice)
    user_update(actor=admin_user, user=alice, status="disabled")
    assert client.get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/").status_code == 401


def test_missing_original_uri_is_403(alice):
    assert cookie_client(alice).get(URL).status_code == 403


@pytest.mark.parametrize(
    "uri",
    [
        "/alice/../bob/vscode/",
        "/alice/%2e%2e/bob/vscode/",
        "//bob/vscode/",
        "/./bob/vscode/",
        "/bob/vscode/",
        "/alicex/vscode/",
        "/ali/vscode/",
    ],
)
def test_paths_that_lead_elsewhere_are_refused(alice, bob, uri):
    assert cookie_client(alice).get(URL, HTTP_X_ORIGINAL_URI=uri).status_code == 403


@pytest.mark.parametrize(
    ("uri", "owner"),
    [
        ("/alice/vscode/", "alice"),
        ("/alice", "alice"),
        ("/bob/../alice/jupyter/?x=/bob/", "alice"),
        ("/", None),
        ("", None),
        ("/a\\b/", None),
    ],
)
def test_owner_of_a_uri(uri, owner):
    assert workspace_owner_from_uri(uri) == owner


def test_verify_is_one_query(alice, django_assert_num_queries):
    client = cookie_client(alice)
    # The first request of a minute also records route activity (maintenance.activity); after it, one query.
    assert client.get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/").status_code == 200
    with django_assert_num_queries(1):
        response = client.get(URL, HTTP_X_ORIGINAL_URI="/alice/vscode/")
    assert response.status_code == 200
