"""Periodic jobs of the traffic app (scheduled in settings.CELERY_BEAT_SCHEDULE); thin by design."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="traffic.tasks.traffic_rollup_task", ignore_result=True)
def traffic_rollup_task() -> int:
    return services.traffic_rollup()
