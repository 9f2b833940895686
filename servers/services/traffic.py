"""The hourly rollup of the API traffic counters into rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from servers import traffic
from servers.models import TrafficHourly


def traffic_rollup(*, now: datetime | None = None) -> int:
    """Write the cached counters into hourly rows (idempotent: a row holds its hour's totals).

    Finished hours are dropped from the cache once written; the current hour is
    written as it stands and rewritten on the next run.
    """
    now = now or timezone.now()
    current = traffic.hour_start(now)
    written = 0
    for hour in traffic.pending_hours():
        rows = traffic.read_hour(hour)
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
            traffic.forget_hour(hour)
    cutoff = now - timedelta(days=settings.TRAFFIC_RETENTION_DAYS)
    TrafficHourly.objects.filter(hour__lt=cutoff).delete()
    return written
