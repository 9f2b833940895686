"""Writes of the traffic app: the hourly rollup of the API traffic counters into rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import counters
from .models import TrafficHourly


def traffic_rollup(*, now: datetime | None = None) -> int:
    """Write the cached counters into hourly rows (idempotent: a row holds its hour's totals).

    Finished hours are dropped from the cache once written; the current hour is
    written as it stands and rewritten on the next run.
    """
    now = now or timezone.now()
    current = counters.hour_start(now)
    written = 0
    for hour in counters.pending_hours():
        rows = counters.read_hour(hour)
        with transaction.atomic():
            for key, figures in rows.items():
                TrafficHourly.objects.update_or_create(
                    hour=hour,
                    route=key.route,
                    method=key.method,
                    status_class=key.status_class,
                    defaults=figures,
                )
                written += 1
        if hour < current:
            counters.forget_hour(hour)
    cutoff = now - timedelta(days=settings.TRAFFIC_RETENTION_DAYS)
    TrafficHourly.objects.filter(hour__lt=cutoff).delete()
    return written
