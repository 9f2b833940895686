"""Periodic jobs of the servers app (scheduled in settings.CELERY_BEAT_SCHEDULE); thin by design."""

from __future__ import annotations

from celery import shared_task

from .services import stats


@shared_task(name="servers.tasks.poll_servers", ignore_result=True, soft_time_limit=120, time_limit=150)
def poll_servers() -> dict[str, str]:
    """Fresh stats from every agent: status, last seen, capacity and a history row."""
    return stats.servers_poll()


@shared_task(name="servers.tasks.prune_stats_history", ignore_result=True)
def prune_stats_history() -> int:
    return stats.server_stats_prune()
