"""Projects (guardian object permissions), build visibility, registry and allowed-image rules (MariaDB)."""

from __future__ import annotations

import pytest

from builds.models import Build, Project
from registry.models import AllowedImage, Registry
from servers.models import Server
from tests.factories import ServerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> Server:
    return ServerFactory(name="proj-host")


def _build(project: Project | None, user, name: str, host: Server) -> Build:
    return Build.objects.create(
        repository=f"team/{name}",
        reference=f"team/{name}:latest",
        source="dockerfile",
        server=host,
        project=project,
        requested_by=user,
    )


def test_qvp_sees_and_builds_only_in_their_projects(client_as, host):
    admin = UserFactory(admin=True)
    quentin, quinn, alice = UserFactory(qvp=True), UserFactory(qvp=True), UserFactory()
    admin_api, quentin_api, quinn_api = client_as(admin), client_as(quentin), client_as(quinn)
    project_id = admin_api.post("/api/projects", {"name": "vision"}, format="json").json()["data"]["id"]
    other_id = admin_api.post("/api/projects", {"name": "speech"}, format="json").json()["data"]["id"]
    added = admin_api.post(
        f"/api/projects/{project_id}/members", {"username": quentin.username}, format="json"
    )
    assert added.json()["data"]["members"] == [quentin.username]
    refused = admin_api.post(
        f"/api/projects/{project_id}/members", {"username": alice.username}, format="json"
    )
    assert refused.status_code == 409 and "operator" in refused.json()["message"]
    project = Project.objects.get(pk=project_id)
    assert quentin.has_perm("builds.build_in_project", project)  # guardian object permission
    assert not quinn.has_perm("builds.build_in_project", project)

    assert [p["name"] for p in quentin_api.get("/api/projects").json()["data"]["results"]] == ["vision"]
    assert quinn_api.get("/api/projects").json()["data"]["results"] == []
    assert quinn_api.get(f"/api/projects/{project_id}").status_code == 404

    in_project = _build(project, admin, "in-project", host)
    _build(Project.objects.get(pk=other_id), admin, "elsewhere", host)
    own = _build(None, quinn, "quinns-own", host)
    assert [b["id"] for b in quentin_api.get("/api/builds").json()["data"]["results"]] == [in_project.pk]
    assert [b["id"] for b in quinn_api.get("/api/builds").json()["data"]["results"]] == [own.pk]
    assert quinn_api.get(f"/api/builds/{in_project.pk}/log").status_code == 404
    assert len(admin_api.get("/api/builds").json()["data"]["results"]) == 3
    assert client_as(alice).get("/api/builds").status_code == 403

    body = {"server": host.pk, "repository": "team/x", "source": "dockerfile", "dockerfile": "FROM scratch"}
    denied = quinn_api.post("/api/builds", {**body, "project": project_id}, format="json")
    assert denied.status_code == 403 and "not a member" in denied.json()["message"]
    assert quentin_api.post("/api/builds", {**body, "project": project_id}, format="json").status_code == 201

    removed = admin_api.delete(
        f"/api/projects/{project_id}/members", {"username": quentin.username}, format="json"
    )
    assert removed.status_code == 200
    assert not quentin.has_perm("builds.build_in_project", Project.objects.get(pk=project_id))


def test_registry_url_rules_and_one_default(client_as, settings):
    settings.REGISTRY_ALLOW_LOCAL_TARGETS = False
    api = client_as(UserFactory(admin=True))
    for url, message in (
        ("http://127.0.0.1:5000", "local address"),
        ("http://169.254.169.254", "local address"),
        ("ftp://192.0.2.1", "http"),
        ("https://user:pw@192.0.2.1", "credentials"),
    ):
        answer = api.post("/api/registries", {"name": "r", "url": url}, format="json")
        assert answer.status_code == 400 and message in answer.json()["message"], answer.json()
    first = api.post(
        "/api/registries",
        {"name": "one", "url": "https://192.0.2.1", "is_default": True, "password": "tok-1"},
        format="json",
    ).json()["data"]
    second = api.post(
        "/api/registries", {"name": "two", "url": "https://192.0.2.2:5000", "is_default": True}, format="json"
    ).json()["data"]
    assert second["host"] == "192.0.2.2:5000"
    assert list(Registry.objects.filter(is_default=True).values_list("name", flat=True)) == ["two"]
    # A PATCH without a password keeps it; the API never shows it.
    patched = api.patch(f"/api/registries/{first['id']}", {"username": "bot"}, format="json").json()["data"]
    assert patched["has_password"] is True and "password" not in patched
    assert Registry.objects.get(pk=first["id"]).password == "tok-1"
    settings.REGISTRY_ALLOW_LOCAL_TARGETS = True
    assert (
        api.post(
            "/api/registries", {"name": "loc", "url": "http://127.0.0.1:5000"}, format="json"
        ).status_code
        == 201
    )


def test_allowed_images_keep_at_most_one_default(client_as):
    api = client_as(UserFactory(admin=True))
    a = api.post("/api/allowed-images", {"name": "team/a:1", "is_default": True}, format="json").json()[
        "data"
    ]
    b = api.post("/api/allowed-images", {"name": "team/b:1", "is_default": True}, format="json").json()[
        "data"
    ]
    assert list(AllowedImage.objects.filter(is_default=True).values_list("name", flat=True)) == ["team/b:1"]
    api.patch(f"/api/allowed-images/{a['id']}", {"is_default": True}, format="json")
    assert list(AllowedImage.objects.filter(is_default=True).values_list("pk", flat=True)) == [a["id"]]
    bad = api.post("/api/allowed-images", {"name": "../etc:1"}, format="json")
    assert bad.status_code == 400
    assert api.delete(f"/api/allowed-images/{b['id']}").status_code == 200


def test_admin_lists_builds_and_shows_the_live_log(client, host):
    from builds.services.builds import build_log_append

    admin = UserFactory(admin=True)
    client.force_login(admin)
    build = _build(None, admin, "admin-view", host)
    Build.objects.filter(pk=build.pk).update(status="running")
    build_log_append(build_id=build.pk, lines=["Step 1/2 : FROM base", "<script>alert(1)</script>"])
    listing = client.get("/admin/builds/build/")
    assert listing.status_code == 200 and "team/admin-view:latest" in listing.content.decode()
    page = client.get(f"/admin/builds/build/{build.pk}/change/").content.decode()
    assert "Step 1/2 : FROM base" in page
    assert "<script>alert(1)</script>" not in page  # the log is data for the page, never markup
    assert "\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E" in page
    assert f'data-events="/events/build/{build.pk}?after=' in page  # follows the build while it runs
    Build.objects.filter(pk=build.pk).update(status="succeeded")
    assert 'data-events=""' in client.get(f"/admin/builds/build/{build.pk}/change/").content.decode()

    registry = Registry.objects.create(name="adm", url="https://192.0.2.3", password="very-secret-token")
    form = client.get(f"/admin/registry/registry/{registry.pk}/change/").content.decode()
    assert "very-secret-token" not in form


def test_a_qvp_sees_only_their_builds_in_the_admin(client, host):
    admin, qvp = UserFactory(admin=True), UserFactory(qvp=True)
    theirs, other = _build(None, qvp, "qvp-own", host), _build(None, admin, "admins-own", host)
    client.force_login(qvp)
    assert client.get(f"/admin/builds/build/{theirs.pk}/change/").status_code == 200
    assert client.get(f"/admin/builds/build/{other.pk}/change/").status_code == 302  # "does not exist"
    assert "team/admins-own" not in client.get("/admin/builds/build/").content.decode()
