"""Periodic jobs of the servers app (scheduled in settings.CELERY_BEAT_SCHEDULE); thin by design."""

from __future__ import annotations

from celery import shared_task

from .services import stats


@shared_task(name="servers.tasks.servers_poll_task", ignore_result=True, soft_time_limit=120, time_limit=150)
def servers_poll_task() -> dict[str, str]:
    """Fresh stats from every agent: status, last seen, capacity and a history row."""
    return stats.servers_poll()


@shared_task(name="servers.tasks.server_stats_prune_task", ignore_result=True)
def server_stats_prune_task() -> int:
    return stats.server_stats_prune()
