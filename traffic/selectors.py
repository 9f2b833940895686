"""Reads of the traffic app: what the hourly rows say about the API's use."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q, Sum
from django.utils import timezone

from .models import TrafficHourly


def traffic_summary(*, hours: int = 24, limit: int = 20, now: datetime | None = None) -> dict[str, Any]:
    """Top routes, error rates and slowest routes over the last `hours` (rolled-up rows)."""
    since = (now or timezone.now()) - timedelta(hours=hours)
    rows = (
        TrafficHourly.objects.filter(hour__gte=since)
        .values("route", "method")
        .annotate(
            n=Sum("count"),
            n_errors=Sum("errors"),
            n_client_errors=Sum("count", filter=Q(status_class="4xx")),
            duration=Sum("duration_ms_total"),
            max_ms=Max("duration_ms_max"),
        )
    )
    routes = [
        {
            "route": r["route"],
            "method": r["method"],
            "count": r["n"],
            "errors": r["n_errors"],
            "client_errors": r["n_client_errors"] or 0,
            "error_rate": round(r["n_errors"] / r["n"], 4) if r["n"] else 0.0,
            "mean_ms": round(r["duration"] / r["n"], 1) if r["n"] else 0.0,
            "max_ms": r["max_ms"],
        }
        for r in rows
    ]
    total = sum(r["count"] for r in routes)
    errors = sum(r["errors"] for r in routes)
    return {
        "since": since.isoformat(),
        "hours": hours,
        "total_requests": total,
        "total_errors": errors,
        "error_rate": round(errors / total, 4) if total else 0.0,
        "top_routes": sorted(routes, key=lambda r: -r["count"])[:limit],
        "error_routes": sorted(
            (r for r in routes if r["errors"]), key=lambda r: (-r["error_rate"], -r["count"])
        )[:limit],
        "slowest_routes": sorted(routes, key=lambda r: -r["mean_ms"])[:limit],
    }
