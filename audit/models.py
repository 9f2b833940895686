"""The audit log: the original's `audit_logs` plus the acting user and the target."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LogLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class AuditSource(models.TextChoices):
    """Where a change came from; the acting person, if any, is the row's actor."""

    API = "api", "API"
    ADMIN = "admin", "Admin site"
    COMMAND = "command", "Management command"
    WORKER = "worker", "Celery worker"
    RECONCILER = "reconciler", "Reconciler"
    SYSTEM = "system", "Periodic job"


class AuditLog(models.Model):
    """Append-only: rows are written by `audit.services.audit_log_record` and never changed."""

    username = models.CharField(max_length=255, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action_type = models.CharField(max_length=100, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    server_id = models.CharField(max_length=100, blank=True, default="")
    log_level = models.CharField(max_length=20, choices=LogLevel.choices, default=LogLevel.INFO)
    source = models.CharField(max_length=100, choices=AuditSource.choices, default=AuditSource.API)
    target_type = models.CharField(max_length=100, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_repr = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # The level filter with a date range, newest first (the list, the admin, the export's
            # keyset order on (created_at, id)).
            models.Index(fields=["log_level", "created_at"], name="audit_level_created_idx"),
            # The same with the action: a count filtered by level, dates and action reads no rows
            # (1M rows: 8 ms -> 0.5 ms). It cannot replace the one above: the action between the
            # date and the id breaks the export's order.
            models.Index(
                fields=["log_level", "created_at", "action_type"], name="audit_level_created_action"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action_type}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise RuntimeError("Audit log rows are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit log rows are append-only and cannot be deleted.")
