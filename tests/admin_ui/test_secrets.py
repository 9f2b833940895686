"""Secrets are write-only in the admin: no page shows one, to a qvp or an admin; the page says
only whether each is set, and an input left empty keeps the stored value."""

from __future__ import annotations

import pytest

from audit.models import AuditLog
from registry.models import Registry
from servers.models import Server
from tests.factories import ServerFactory

pytestmark = pytest.mark.django_db

PASSWORD = "very-secret-registry-token"
AGENT_SECRET = "agent-secret-0123456789abcdef"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA-test-key\n-----END OPENSSH PRIVATE KEY-----"
)
SSH_PASSWORD = "ssh-password-42"


def readonly(value: str) -> str:
    return f'<div class="readonly">{value}</div>'


@pytest.fixture
def registry() -> Registry:
    return Registry.objects.create(name="team", url="https://192.0.2.3", username="bot", password=PASSWORD)


@pytest.fixture
def server() -> Server:
    return ServerFactory(
        name="host-s", address="192.0.2.20", agent_port=5005, agent_secret=AGENT_SECRET,
        ssh_user="ops", ssh_private_key=SSH_KEY, ssh_password="",
    )  # fmt: skip


def test_a_qvp_sees_whether_a_registry_password_is_set_never_the_password(qvp_browser, registry):
    page = qvp_browser.get(f"/admin/registry/registry/{registry.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert PASSWORD not in html
    assert readonly("set") in html
    assert 'name="new_password"' not in html  # a viewer gets no input


def test_an_admin_gets_a_write_only_password_input(admin_browser, registry):
    empty = Registry.objects.create(name="open", url="https://192.0.2.4")
    html = admin_browser.get(f"/admin/registry/registry/{registry.pk}/change/").content.decode()
    assert PASSWORD not in html
    assert readonly("set") in html and 'type="password" name="new_password"' in html
    assert (
        readonly("not set")
        in admin_browser.get(f"/admin/registry/registry/{empty.pk}/change/").content.decode()
    )


def test_an_empty_password_input_keeps_the_stored_password_and_a_new_one_replaces_it(admin_browser, registry):
    form = {
        "name": "team",
        "url": "https://192.0.2.3",
        "username": "bot",
        "verify_tls": "on",
        "new_password": "",
    }
    assert admin_browser.post(f"/admin/registry/registry/{registry.pk}/change/", form).status_code == 302
    registry.refresh_from_db()
    assert registry.password == PASSWORD
    form["new_password"] = "rotated-token"
    assert admin_browser.post(f"/admin/registry/registry/{registry.pk}/change/", form).status_code == 302
    registry.refresh_from_db()
    assert registry.password == "rotated-token"
    rows = AuditLog.objects.filter(action_type="registry.update")
    assert rows.count() == 2 and "rotated-token" not in str(list(rows.values_list("details", flat=True)))


def test_a_refused_registry_form_does_not_echo_the_typed_password(admin_browser, settings):
    settings.REGISTRY_ALLOW_LOCAL_TARGETS = False
    form = {"name": "loop", "url": "http://127.0.0.1:5000", "new_password": "typed-token", "verify_tls": "on"}
    page = admin_browser.post("/admin/registry/registry/add/", form)
    assert page.status_code == 200
    assert "typed-token" not in page.content.decode()


def test_a_qvp_sees_whether_server_secrets_are_set_never_the_secrets(qvp_browser, server):
    page = qvp_browser.get(f"/admin/servers/server/{server.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert AGENT_SECRET not in html and "b3BlbnNzaC1rZXktdjEAAAA-test-key" not in html
    assert html.count(readonly("set")) == 2 and html.count(readonly("not set")) == 1  # key set, password not
    assert 'name="new_agent_secret"' not in html and 'name="new_ssh_private_key"' not in html


def test_an_admin_sees_server_secret_states_and_write_only_inputs(admin_browser, server):
    html = admin_browser.get(f"/admin/servers/server/{server.pk}/change/").content.decode()
    assert AGENT_SECRET not in html and "b3BlbnNzaC1rZXktdjEAAAA-test-key" not in html
    assert html.count(readonly("set")) == 2 and html.count(readonly("not set")) == 1
    assert 'type="password" name="new_agent_secret"' in html and 'name="new_ssh_private_key"' in html


def test_a_refused_server_form_does_not_echo_the_typed_secrets(admin_browser):
    form = {
        "name": "bad-host", "address": "http://evil/", "agent_port": "5005", "ssh_port": "22", "labels": "{}",
        "new_agent_secret": AGENT_SECRET, "new_ssh_private_key": SSH_KEY, "new_ssh_password": SSH_PASSWORD,
    }  # fmt: skip
    page = admin_browser.post("/admin/servers/server/add/", form)
    assert page.status_code == 200 and b"neither an IP address" in page.content
    html = page.content.decode()
    assert (
        AGENT_SECRET not in html
        and "b3BlbnNzaC1rZXktdjEAAAA-test-key" not in html
        and SSH_PASSWORD not in html
    )
