"""Writing the audit log. Call inside the transaction of the action you record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models, transaction

from mgmt.logging import current_request_id

from .middleware import current_request_ip
from .models import AuditLog, AuditSource, LogLevel

# Keys whose values never reach the audit log, at any depth.
_SECRET_KEYS = ("password", "token", "secret", "private_key", "passphrase", "credential", "authorization")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "[redacted]" if any(s in str(k).lower() for s in _SECRET_KEYS) else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def audit_log_record(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
    level: str = LogLevel.INFO,
    source: AuditSource = AuditSource.API,
    server_id: str | int | None = None,
) -> AuditLog:
    """Write one audit row. Secret-looking keys in `details` are redacted.

    The request's client address and request id are added when there is a request. `source` is
    one of AuditSource (an unknown one is a programming error, refused here).
    """
    source = AuditSource(source)
    username = ""
    if actor is not None and getattr(actor, "is_authenticated", False):
        username = actor.username
    else:
        actor = None
    return AuditLog.objects.create(
        username=username,
        actor=actor,
        action_type=action,
        details=_scrub(details or {}),
        ip_address=ip_address or current_request_ip(),
        request_id=current_request_id() if current_request_id() != "-" else "",
        server_id=str(server_id or ""),
        log_level=level,
        source=source,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
    )


def audit_log_purge(*, before: datetime, dry_run: bool = False) -> int:
    """Delete audit rows older than `before`: the one sanctioned delete of this append-only log.

    The purge is recorded by a new row (written after the delete, so it survives it).
    Returns the number of rows deleted, or with `dry_run` the number that would be.
    """
    old = AuditLog.objects.filter(created_at__lt=before)
    if dry_run:
        return old.count()
    with transaction.atomic():
        # QuerySet.delete() bypasses AuditLog.delete(), which refuses single-row deletes.
        deleted, _ = old.delete()
        audit_log_record(
            action="audit.purge",
            details={"deleted": deleted, "before": before.isoformat()},
            source=AuditSource.SYSTEM,
        )
    return deleted
