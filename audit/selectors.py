"""Reading the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db.models import Q, QuerySet

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


def audit_log_entries(
    *, queryset: QuerySet[AuditLog], chunk_size: int = 2000, first_chunk: int = 100
) -> Iterator[AuditLog]:
    """The entries of `queryset`, newest first, in constant memory: one chunk at a time.

    Keyset pagination on the (created_at, id) index: each chunk is its own short query that
    starts where the last one ended, and a chunk is let go before the next is read.
    (`.iterator()` would not do: MySQL's client library reads the whole result set into memory
    before the first row.) The first chunk is small, so that a download starts at once.
    """
    queryset = queryset.select_related(None).order_by("-created_at", "-id")
    page, size = queryset, first_chunk
    while True:
        chunk = list(page[:size])
        yield from chunk
        if len(chunk) < size:
            return
        last = chunk[-1]
        del chunk
        page = queryset.filter(
            Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, id__lt=last.pk)
        )
        size = chunk_size


def audit_log_csv_rows(*, queryset: QuerySet[AuditLog]) -> Iterator[list[str]]:
    """The header, then one row per entry, safe to open in a spreadsheet; streams in constant memory."""
    yield list(CSV_COLUMNS)
    for entry in audit_log_entries(queryset=queryset):
        yield [_csv_cell(getattr(entry, column)) for column in CSV_COLUMNS]
