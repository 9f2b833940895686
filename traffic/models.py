"""The hourly API traffic figures (rolled up from `traffic.counters`)."""

from __future__ import annotations

from django.db import models


class TrafficHourly(models.Model):
    """API traffic of one hour for one route template, method and status class."""

    hour = models.DateTimeField(db_index=True)
    route = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    status_class = models.CharField(max_length=3, help_text='"2xx", "4xx", …')
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Answers with status 500 and above.")
    duration_ms_total = models.BigIntegerField(default=0)
    duration_ms_max = models.PositiveIntegerField(default=0)
    # Request counts per latency bucket (upper bounds in traffic.counters.LATENCY_BUCKETS_MS).
    buckets = models.JSONField(default=list)

    class Meta:
        db_table = "servers_traffichourly"  # created by the servers app, which held the model first
        ordering = ["-hour", "route"]
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "route", "method", "status_class"], name="traffic_hourly_unique"
            )
        ]
        verbose_name_plural = "traffic (hourly)"

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.method} {self.route} {self.status_class}"

    @property
    def mean_ms(self) -> float:
        return round(self.duration_ms_total / self.count, 1) if self.count else 0.0
