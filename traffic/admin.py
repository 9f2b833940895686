"""The hourly API traffic rows, with the last day's summary above the list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.roles import MatrixModelAdmin

from .models import TrafficHourly
from .selectors import traffic_summary


@admin.register(TrafficHourly)
class TrafficHourlyAdmin(MatrixModelAdmin):
    """Read-only: rows are written by the rollup task."""

    view_permission = "view_traffic"
    list_display = [
        "hour",
        "method",
        "route",
        "status_class",
        "count",
        "errors",
        "mean_ms",
        "duration_ms_max",
    ]
    list_filter = ["status_class", "method"]
    search_fields = ["route"]
    date_hierarchy = "hour"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra_context = {**(extra_context or {}), "summary": traffic_summary(hours=24, limit=10)}
        return super().changelist_view(request, extra_context=extra_context)
