"""audit 0002: the servers app's old action names become `server.<verb>` and back."""

import importlib

import pytest
from django.apps import apps

from audit.models import AuditLog
from audit.services import audit_log_record

pytestmark = pytest.mark.django_db
migration = importlib.import_module("audit.migrations.0002_server_action_names")


def test_server_actions_renamed_forward_and_back(admin_api):
    for action in ("server_registered", "server_undrained", "server_ssh_host_key_pinned", "user.update"):
        audit_log_record(action=action)

    migration.forward(apps, None)
    assert sorted(AuditLog.objects.values_list("action_type", flat=True)) == [
        "server.registered",
        "server.ssh_host_key_pinned",
        "server.undrained",
        "user.update",
    ]
    found = admin_api.get("/api/admin/audit-logs?action=server.").json()["data"]["results"]
    assert len(found) == 3

    migration.backward(apps, None)
    assert sorted(AuditLog.objects.values_list("action_type", flat=True)) == [
        "server_registered",
        "server_ssh_host_key_pinned",
        "server_undrained",
        "user.update",
    ]
