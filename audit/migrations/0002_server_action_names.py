"""Audit actions of servers are `entity.verb` like all others: server_registered → server.registered."""

from django.db import migrations

RENAMED = {
    f"server_{verb}": f"server.{verb}"
    for verb in (
        "registered",
        "updated",
        "deleted",
        "drained",
        "undrained",
        "ssh_check",
        "ssh_diagnose",
        "ssh_host_key_pinned",
        "ssh_host_key_refused",
        "agent_install",
        "agent_restart",
    )
}


def _rename(apps, mapping: dict[str, str]) -> None:
    # A queryset update: the historical model has no append-only save(), and no row is read.
    audit_log = apps.get_model("audit", "AuditLog")
    for old, new in mapping.items():
        audit_log.objects.filter(action_type=old).update(action_type=new)


def forward(apps, schema_editor) -> None:
    _rename(apps, RENAMED)


def backward(apps, schema_editor) -> None:
    _rename(apps, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
