"""The servers API: roles, validation, secrets never returned, drain, delete rules, history."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditLog
from servers.models import Server, ServerStats, ServerStatus
from servers.selectors import register_server_dependents, unregister_server_dependents

pytestmark = pytest.mark.django_db

SECRET = "s3cret-agent-key-" + "Z" * 10
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-key-body\n-----END OPENSSH PRIVATE KEY-----\n"


def register_body(**overrides):
    body = {
        "name": "gpu-1",
        "address": "10.0.0.5",
        "agent_port": 5005,
        "agent_secret": SECRET,
        "ssh_user": "ops",
        "ssh_private_key": PRIVATE_KEY,
        "ssh_password": "ssh-pass-123",
        "labels": {"zone": "a"},
    }
    body.update(overrides)
    return body


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def assert_no_secrets(text: str) -> None:
    for secret in (SECRET, "secret-key-body", "ssh-pass-123"):
        assert secret not in text


def test_anonymous_is_refused(api_client):
    response = api_client.get("/api/servers")
    assert response.status_code in (401, 403)
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("persona", "list_status", "create_status"),
    [("admin_user", 200, 201), ("qvp_user", 200, 403), ("alice", 403, 403)],
)
def test_matrix(request, api_client, persona, list_status, create_status):
    client = as_user(api_client, request.getfixturevalue(persona))
    assert client.get("/api/servers").status_code == list_status
    assert client.post("/api/servers", register_body(), format="json").status_code == create_status


def test_register_list_detail_never_return_secrets(api_client, admin_user, settings):
    settings.AGENT_CONNECT_TIMEOUT = 0.2
    client = as_user(api_client, admin_user)
    created = client.post("/api/servers", register_body(address="127.0.0.1", agent_port=1), format="json")
    assert created.status_code == 201, created.json()
    data = created.json()["data"]
    assert data["has_agent_secret"] and data["has_ssh_private_key"] and data["has_ssh_password"]
    assert_no_secrets(created.content.decode())
    listed = client.get("/api/servers")
    assert listed.status_code == 200
    assert_no_secrets(listed.content.decode())
    row = listed.json()["data"]["results"][0]
    assert row["live"]["ok"] is False and "gpu-1" in row["live"]["error"]  # nothing listens on port 1
    detail = client.get(f"/api/servers/{data['id']}")
    assert detail.status_code == 200
    assert_no_secrets(detail.content.decode())
    audit = AuditLog.objects.get(action_type="server.registered")
    assert audit.actor == admin_user and audit.target_id == str(data["id"])
    assert_no_secrets(str(audit.details))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("address", "http://10.0.0.5/", "address:"),
        ("address", "10.0.0.5:80", "address:"),
        ("address", "user@host", "address:"),
        ("address", "a..b", "address:"),
        ("name", "Bad Name!", "name:"),
        ("agent_port", 70000, "agent_port:"),
        ("agent_secret", "short", "agent_secret:"),
        ("labels", {"bad key!": "x"}, "labels:"),
        ("ssh_host_key_fingerprint", "MD5:aa", "ssh_host_key_fingerprint:"),
    ],
)
def test_bad_input_is_a_clear_400(api_client, admin_user, field, value, message):
    response = as_user(api_client, admin_user).post(
        "/api/servers", register_body(**{field: value}), format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not Server.objects.exists()


def test_duplicates_are_409(api_client, admin_user):
    client = as_user(api_client, admin_user)
    assert client.post("/api/servers", register_body(), format="json").status_code == 201
    again = client.post("/api/servers", register_body(), format="json")
    assert again.status_code == 409 and "already registered" in again.json()["message"]
    same_agent = client.post("/api/servers", register_body(name="other"), format="json")
    assert same_agent.status_code == 409
    other = client.post("/api/servers", register_body(name="other", address="10.0.0.6"), format="json")
    moved = client.patch(f"/api/servers/{other.json()['data']['id']}", {"address": "10.0.0.5"}, format="json")
    assert moved.status_code == 409 and "10.0.0.5:5005" in moved.json()["message"]


def test_update_keeps_secrets_unless_given(api_client, admin_user, make_server):
    server = make_server(agent_secret=SECRET)
    client = as_user(api_client, admin_user)
    response = client.patch(
        f"/api/servers/{server.pk}", {"address": "host.example.org", "agent_secret": ""}, format="json"
    )
    assert response.status_code == 200, response.json()
    server.refresh_from_db()
    assert server.address == "host.example.org" and server.agent_secret == SECRET
    client.patch(f"/api/servers/{server.pk}", {"agent_secret": "a-brand-new-secret-value"}, format="json")
    server.refresh_from_db()
    assert server.agent_secret == "a-brand-new-secret-value"
    audit = AuditLog.objects.filter(action_type="server.updated").order_by("id").last()
    assert audit.details == {"changed": ["agent_secret"]}


def test_qvp_cannot_change_or_delete(api_client, qvp_user, make_server):
    server = make_server()
    client = as_user(api_client, qvp_user)
    assert client.get(f"/api/servers/{server.pk}").status_code == 200
    assert (
        client.patch(f"/api/servers/{server.pk}", {"address": "10.1.1.1"}, format="json").status_code == 403
    )
    assert client.post(f"/api/servers/{server.pk}/drain").status_code == 403
    assert client.delete(f"/api/servers/{server.pk}").status_code == 403
    assert Server.objects.filter(pk=server.pk).exists()


def test_drain_and_undrain(api_client, admin_user, stub_server, django_capture_on_commit_callbacks):
    server = stub_server
    Server.objects.filter(pk=server.pk).update(status=ServerStatus.ONLINE)
    client = as_user(api_client, admin_user)
    response = client.post(f"/api/servers/{server.pk}/drain")
    assert response.status_code == 200 and response.json()["data"]["status"] == "draining"
    assert not Server.objects.schedulable().filter(pk=server.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/servers/{server.pk}/undrain")
    assert response.status_code == 200
    server.refresh_from_db()
    assert server.status == ServerStatus.ONLINE  # re-polled right after the commit: the agent answers
    assert Server.objects.schedulable().filter(pk=server.pk).exists()
    actions = list(AuditLog.objects.values_list("action_type", flat=True))
    assert "server.drained" in actions and "server.undrained" in actions


@pytest.fixture
def workspaces_on_servers():
    """Stand-in for the workspaces app, which registers its own finder."""
    live: dict[int, list[str]] = {}
    register_server_dependents("workspaces", lambda server: live.get(server.pk, []))
    yield live
    unregister_server_dependents("workspaces")


def test_delete_refused_while_workspaces_live_then_forced(
    api_client, admin_user, make_server, workspaces_on_servers
):
    server = make_server()
    workspaces_on_servers[server.pk] = ["alice (mgmt-alice)", "bob (mgmt-bob)"]
    client = as_user(api_client, admin_user)
    refused = client.delete(f"/api/servers/{server.pk}")
    assert refused.status_code == 409
    assert "2 workspaces: alice (mgmt-alice), bob (mgmt-bob)" in refused.json()["message"]
    assert Server.objects.filter(pk=server.pk).exists()

    forced = client.delete(f"/api/servers/{server.pk}?force=true")
    assert forced.status_code == 200
    assert "Left behind" in forced.json()["message"] and "2 workspaces" in forced.json()["message"]
    assert forced.json()["data"]["left_behind"] == {"workspaces": ["alice (mgmt-alice)", "bob (mgmt-bob)"]}
    assert not Server.objects.filter(pk=server.pk).exists()
    audit = AuditLog.objects.get(action_type="server.deleted")
    assert audit.details["forced"] is True and audit.log_level == "warning"


def test_admin_refuses_to_delete_a_server_with_workspaces(
    client, admin_user, make_server, workspaces_on_servers
):
    server = make_server()
    workspaces_on_servers[server.pk] = ["alice (mgmt-alice)"]
    client.force_login(admin_user)
    page = client.post(f"/admin/servers/server/{server.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and b"alice (mgmt-alice)" in page.content
    assert Server.objects.filter(pk=server.pk).exists()
    del workspaces_on_servers[server.pk]
    assert client.post(f"/admin/servers/server/{server.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Server.objects.filter(pk=server.pk).exists()


def test_delete_empty_server(api_client, admin_user, make_server):
    server = make_server()
    response = as_user(api_client, admin_user).delete(f"/api/servers/{server.pk}")
    assert response.status_code == 200 and response.json()["data"]["left_behind"] == {}
    assert not Server.objects.filter(pk=server.pk).exists()


def test_stats_history_endpoint(api_client, qvp_user, make_server):
    server = make_server()
    now = timezone.now()
    for minutes, cpu in ((90, 10.0), (30, 20.0), (60 * 30, 99.0)):
        ServerStats.objects.create(
            server=server,
            at=now - timezone.timedelta(minutes=minutes),
            cpu_percent=cpu,
            memory_used=1,
            memory_total=4,
        )
    response = as_user(api_client, qvp_user).get(f"/api/servers/{server.pk}/stats?hours=24")
    assert response.status_code == 200
    rows = response.json()["data"]
    assert [r["cpu_percent"] for r in rows] == [10.0, 20.0]  # oldest first, the 30-hour-old one excluded
    assert rows[0]["memory_percent"] == 25.0
    assert api_client.get(f"/api/servers/{server.pk}/stats?hours=0").status_code == 400


def test_unknown_server_is_404(api_client, admin_user):
    response = as_user(api_client, admin_user).get("/api/servers/999999")
    assert response.status_code == 404 and response.json()["success"] is False
