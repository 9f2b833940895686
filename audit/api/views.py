"""The audit log API: read-only, filtered, paginated, and a CSV export."""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request

from accounts.permissions import RequirePermission
from audit import selectors
from audit.filters import AuditLogFilter
from mgmt.api.pagination import StandardPagination
from mgmt.pagination import CappedCountPaginator

from .serializers import AuditLogOutput


class _Echo:
    """A file-like object whose write() hands the line back (streaming CSV)."""

    def write(self, value: str) -> str:
        return value


class AuditLogPagination(StandardPagination):
    """`count` is exact up to 10,000 entries and 10,000 beyond: narrow with `since`/`until` or
    another filter to page further back, or export the CSV (it has every entry)."""

    django_paginator_class = CappedCountPaginator


class AuditLogListView(ListAPIView):
    """Audit entries, newest first; filter by user, action (prefix), level, source, date range.

    `count` stops at 10,000 (the log holds millions of rows): narrow the list to page further.
    """

    permission_classes = [RequirePermission("view_audit_logs")]
    serializer_class = AuditLogOutput
    filterset_class = AuditLogFilter
    pagination_class = AuditLogPagination

    def get_queryset(self):
        return selectors.audit_log_list()


class AuditLogExportView(ListAPIView):
    """The same filters as the list, as a CSV download."""

    permission_classes = [RequirePermission("view_audit_logs")]
    serializer_class = AuditLogOutput
    filterset_class = AuditLogFilter
    pagination_class = None

    def get_queryset(self):
        return selectors.audit_log_list()

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV file")})
    def get(self, request: Request, *args, **kwargs) -> StreamingHttpResponse:
        queryset = self.filter_queryset(self.get_queryset())
        writer = csv.writer(_Echo())
        rows = (writer.writerow(row) for row in selectors.audit_log_csv_rows(queryset=queryset))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        filename = f"audit-log-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
