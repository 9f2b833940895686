"""Periodic cleanup and reconciliation (scheduled in settings.CELERY_BEAT_SCHEDULE); thin by design.

Sessions and stats history are purged by the accounts and servers tasks, which call the same services.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import services


@shared_task(name="maintenance.tasks.purge_audit_logs", ignore_result=True)
def purge_audit_logs() -> dict[str, Any]:
    return services.cleanup_audit_logs().as_dict()


@shared_task(name="maintenance.tasks.prune_images", ignore_result=True, soft_time_limit=1800)
def prune_images() -> dict[str, Any]:
    return services.cleanup_images().as_dict()


@shared_task(name="maintenance.tasks.purge_abandoned_uploads", ignore_result=True)
def purge_abandoned_uploads() -> dict[str, Any]:
    return services.cleanup_uploads().as_dict()
