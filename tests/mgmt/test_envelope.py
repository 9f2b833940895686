import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.urls("tests.mgmt.urls")


def test_success_is_wrapped(api_client):
    response = api_client.get("/api/test/ok")
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "OK.", "data": {"answer": 42}}


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("domain-validation", 400, "cpu: must be positive"),
        ("unauthenticated", 401, "Authentication credentials were not provided or are not valid."),
        ("forbidden", 403, "Only admins may do that."),
        ("notfound", 404, "No such server."),
        ("conflict", 409, "Workspace is being deleted."),
        ("upstream", 503, "Agent on host-1 did not answer."),
    ],
)
def test_domain_errors_map_to_status(api_client, kind, status, message):
    response = api_client.get(f"/api/test/{kind}")
    assert response.status_code == status
    assert response.json()["success"] is False
    assert response.json()["message"] == message


def test_validation_error_names_the_field(api_client):
    response = api_client.post("/api/test/x", {"name": "far too long"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["message"].startswith("Invalid input: name:")
    assert "name" in body["data"]


def test_missing_field_is_named(api_client):
    response = api_client.post("/api/test/x", {}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid input: name: This field is required."


def test_unknown_api_route_is_enveloped_404(api_client):
    response = api_client.post("/api/no/such/route")
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert "/api/no/such/route" in response.json()["message"]


def test_method_not_allowed_is_enveloped(api_client):
    response = api_client.delete("/api/test/ok")
    assert response.status_code == 405
    assert response.json()["success"] is False


def test_unexpected_error_stays_a_500(api_client):
    api_client.raise_request_exception = False
    response = api_client.get("/api/test/crash")
    assert response.status_code == 500


def test_pagination_lives_inside_data(api_client, db):
    for name in ("ann", "ben", "cat"):
        UserFactory(username=name)
    response = api_client.get("/api/test/paged?page_size=2")
    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    assert body["data"]["count"] == 3
    assert [u["username"] for u in body["data"]["results"]] == ["ann", "ben"]
    assert body["data"]["next"].endswith("page=2&page_size=2")


@pytest.mark.django_db
def test_the_api_root_names_its_parts_and_docs_without_a_slash_redirects(client):
    """Issue #15: the browsable API's breadcrumbs start at "API", not "Not Found"."""
    root = client.get("/api/", HTTP_ACCEPT="application/json")
    assert root.status_code == 200
    assert root.json()["data"] == {"schema": "/api/schema/", "docs": "/api/docs/", "health": "/api/health"}
    page = client.get("/api/health", HTTP_ACCEPT="text/html").content.decode()
    assert 'class="breadcrumb"' in page and ">API</a>" in page and "Not Found" not in page
    docs = client.get("/api/docs")
    assert docs.status_code == 301 and docs["Location"] == "/api/docs/"
