"""The platform's own periodic task: a heartbeat per queue, so that /api/health can say whether
beat and a worker for each queue are alive (mgmt/health.py)."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache


def heartbeat_key(queue: str) -> str:
    return f"health:worker:{queue}"


@shared_task(name="mgmt.tasks.heartbeat", ignore_result=True)
def heartbeat(queue: str) -> None:
    """Sent by beat to `queue` every HEARTBEAT_SECONDS; a worker of that queue records when."""
    cache.set(heartbeat_key(queue), time.time(), timeout=None)
