"""Audit sources become one vocabulary (AuditSource): the builds worker's "celery" is "worker", the
ensure_admin command's "ensure_admin" is "command"."""

from django.db import migrations, models

RENAMED = {"celery": "worker", "ensure_admin": "command"}


def forward(apps, schema_editor):
    AuditLog = apps.get_model("audit", "AuditLog")
    for old, new in RENAMED.items():
        AuditLog.objects.filter(source=old).update(source=new)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_server_action_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditlog",
            name="source",
            field=models.CharField(
                choices=[
                    ("api", "API"),
                    ("admin", "Admin site"),
                    ("command", "Management command"),
                    ("worker", "Celery worker"),
                    ("reconciler", "Reconciler"),
                    ("system", "Periodic job"),
                ],
                default="api",
                max_length=100,
            ),
        ),
        # Backwards the rows keep their new names: which "worker" rows were "celery" is not recorded.
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
