"""TrafficHourly, moved here from the servers app with its table (`servers_traffichourly`) untouched.

The model enters this app's state only; its content type follows it, so permissions and
admin history that name it keep pointing at it.
"""

from django.db import migrations, models


def _move_content_type(apps, schema_editor, *, old: str, new: str) -> None:
    """Relabel the old content type, unless post_migrate already made one under the new label."""
    rows = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if not rows.filter(app_label=new, model="traffichourly").exists():
        rows.filter(app_label=old, model="traffichourly").update(app_label=new)


def forward(apps, schema_editor) -> None:
    _move_content_type(apps, schema_editor, old="servers", new="traffic")


def backward(apps, schema_editor) -> None:
    _move_content_type(apps, schema_editor, old="traffic", new="servers")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("servers", "0002_traffichourly_to_traffic_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TrafficHourly",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("hour", models.DateTimeField(db_index=True)),
                        ("route", models.CharField(max_length=255)),
                        ("method", models.CharField(max_length=10)),
                        ("status_class", models.CharField(help_text='"2xx", "4xx", …', max_length=3)),
                        ("count", models.PositiveIntegerField(default=0)),
                        (
                            "errors",
                            models.PositiveIntegerField(
                                default=0, help_text="Answers with status 500 and above."
                            ),
                        ),
                        ("duration_ms_total", models.BigIntegerField(default=0)),
                        ("duration_ms_max", models.PositiveIntegerField(default=0)),
                        ("buckets", models.JSONField(default=list)),
                    ],
                    options={
                        "verbose_name_plural": "traffic (hourly)",
                        "db_table": "servers_traffichourly",
                        "ordering": ["-hour", "route"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("hour", "route", "method", "status_class"),
                                name="traffic_hourly_unique",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forward, backward),
    ]
