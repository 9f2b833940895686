"""The SSH service against a real OpenSSH server on a loopback port."""

from __future__ import annotations

import pytest

from audit.models import AuditLog
from mgmt.exceptions import ValidationFailed
from servers.clients.ssh import HostKeyMismatch, SSHUnavailable
from servers.services import ssh
from tests.net import free_port
from tests.sshd import keygen, sshd_server

pytestmark = [pytest.mark.sshd, pytest.mark.django_db]


@pytest.fixture(scope="module")
def sshd():
    with sshd_server() as server:
        yield server


@pytest.fixture
def ssh_server(make_server, sshd):
    return make_server(
        ssh_user=sshd.user,
        ssh_port=sshd.port,
        ssh_private_key=sshd.user_key,
        ssh_host_key_fingerprint=sshd.fingerprint,
    )


def test_check_and_diagnose_run_and_are_audited(ssh_server, admin_user):
    result = ssh.server_ssh_check(actor=admin_user, server=ssh_server)
    assert result.exit_status == 0
    diagnosis = ssh.server_ssh_diagnose(actor=admin_user, server=ssh_server, check="uptime")
    assert diagnosis.exit_status == 0 and "load average" in diagnosis.stdout
    audits = AuditLog.objects.filter(target_id=str(ssh_server.pk)).order_by("id")
    assert [a.action_type for a in audits] == ["server.ssh_check", "server.ssh_diagnose"]
    assert audits[1].details["command"] == "uptime" and audits[1].actor == admin_user


def test_unknown_diagnostic_is_refused_before_connecting(ssh_server, admin_user):
    with pytest.raises(ValidationFailed, match="choose one of"):
        ssh.server_ssh_diagnose(actor=admin_user, server=ssh_server, check="rm -rf /")


def test_changed_host_key_refuses_to_connect(ssh_server, admin_user, sshd, tmp_path):
    other = tmp_path / "other_host_key"
    keygen(other)
    with sshd_server(host_key_path=other) as impostor:
        ssh_server.ssh_port = impostor.port
        ssh_server.save()
        with pytest.raises(HostKeyMismatch) as caught:
            ssh.server_ssh_check(actor=admin_user, server=ssh_server)
    assert "changed" in caught.value.message and sshd.fingerprint in caught.value.message
    assert caught.value.status_code == 409
    failed = AuditLog.objects.get(action_type="server.ssh_check")
    assert failed.log_level == "error" and "changed" in failed.details["error"]


def test_no_pinned_key_refuses(ssh_server, admin_user):
    ssh_server.ssh_host_key_fingerprint = ""
    ssh_server.save()
    with pytest.raises(HostKeyMismatch, match="No host key is pinned"):
        ssh.server_ssh_check(actor=admin_user, server=ssh_server)


def test_pin_host_key_only_when_it_matches_the_expected(ssh_server, admin_user, sshd):
    from mgmt.exceptions import Conflict

    ssh_server.ssh_host_key_fingerprint = ""
    ssh_server.save()
    with pytest.raises(Conflict, match="nothing pinned"):
        ssh.server_ssh_pin_host_key(actor=admin_user, server=ssh_server, expected="SHA256:" + "A" * 43)
    assert (
        AuditLog.objects.get(action_type="server.ssh_host_key_refused").details["presented"]
        == sshd.fingerprint
    )
    pinned = ssh.server_ssh_pin_host_key(actor=admin_user, server=ssh_server, expected=sshd.fingerprint)
    assert pinned.ssh_host_key_fingerprint == sshd.fingerprint
    assert ssh.server_ssh_check(actor=admin_user, server=pinned).exit_status == 0


def test_command_timeout(ssh_server, admin_user, settings):
    settings.SSH_COMMAND_TIMEOUT = 0.5
    settings.SSH_AGENT_RESTART_COMMAND = "sleep 5"
    with pytest.raises(SSHUnavailable, match="did not finish within"):
        ssh.server_agent_restart(actor=admin_user, server=ssh_server)


def test_unreachable_ssh_is_503(make_server, admin_user, sshd):
    server = make_server(ssh_user="ops", ssh_port=free_port(), ssh_host_key_fingerprint=sshd.fingerprint)
    with pytest.raises(SSHUnavailable) as caught:
        ssh.server_ssh_check(actor=admin_user, server=server)
    assert caught.value.status_code == 503 and server.name in caught.value.message


def test_api_diagnose_and_refusal(api_client, ssh_server, admin_user, qvp_user):
    api_client.force_authenticate(qvp_user)
    assert api_client.post(f"/api/servers/{ssh_server.pk}/ssh/check").status_code == 403
    api_client.force_authenticate(admin_user)
    response = api_client.post(f"/api/servers/{ssh_server.pk}/ssh/diagnose", {"check": "disk"}, format="json")
    assert response.status_code == 200 and response.json()["data"]["exit_status"] == 0
    assert "Filesystem" in response.json()["data"]["stdout"]
