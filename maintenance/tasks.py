"""Periodic cleanup and reconciliation (scheduled in settings.CELERY_BEAT_SCHEDULE); thin by design.

Sessions and stats history are purged by the accounts and servers tasks, which call the same services.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from loguru import logger

from mgmt.exceptions import Conflict

from . import services


@shared_task(name="maintenance.tasks.cleanup_audit_logs_task", ignore_result=True)
def cleanup_audit_logs_task() -> dict[str, Any]:
    return services.cleanup_audit_logs().as_dict()


@shared_task(name="maintenance.tasks.cleanup_images_task", ignore_result=True, soft_time_limit=1800)
def cleanup_images_task() -> dict[str, Any]:
    return services.cleanup_images().as_dict()


@shared_task(name="maintenance.tasks.cleanup_uploads_task", ignore_result=True)
def cleanup_uploads_task() -> dict[str, Any]:
    return services.cleanup_uploads().as_dict()


@shared_task(name="maintenance.tasks.workspaces_stop_idle_task", ignore_result=True)
def workspaces_stop_idle_task() -> dict[str, Any]:
    from .idle import workspaces_stop_idle

    return workspaces_stop_idle().as_dict()


@shared_task(name="maintenance.tasks.reconcile_task", ignore_result=True, soft_time_limit=600, time_limit=660)
def reconcile_task(*, dry_run: bool = False, server_name: str = "", trigger: str = "beat") -> int | None:
    """One reconcile run (any worker: hosts answer over the signed channel, routes are rows); its id."""
    from .reconcile import reconcile as run_reconcile

    try:
        return run_reconcile(dry_run=dry_run, server_name=server_name, trigger=trigger).pk
    except Conflict as exc:  # another run is repairing: this one has nothing to add
        logger.info("Reconcile skipped: {}", exc.message)
        return None
