"""Reading the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db.models import QuerySet

from .models import AuditLog

CSV_COLUMNS = (
    "created_at", "username", "action_type", "log_level", "source", "ip_address", "request_id",
    "server_id", "target_type", "target_id", "target_repr", "details",
)  # fmt: skip
# A spreadsheet would run a cell starting with one of these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def audit_log_list() -> QuerySet[AuditLog]:
    return AuditLog.objects.select_related("actor").order_by("-created_at", "-id")


def _csv_cell(value: object) -> str:
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, default=str)
    elif value is None:
        text = ""
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def audit_log_csv_rows(*, queryset: QuerySet[AuditLog]) -> Iterator[list[str]]:
    """The header, then one row per entry, safe to open in a spreadsheet."""
    yield list(CSV_COLUMNS)
    for entry in queryset.iterator(chunk_size=2000):
        yield [_csv_cell(getattr(entry, column)) for column in CSV_COLUMNS]
