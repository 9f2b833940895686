"""Polling the agents for their figures, the stats history and its pruning."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from loguru import logger

from servers.models import Server, ServerStats, ServerStatus
from servers.selectors import StatsResult, servers_stats_fetch, stats_cache_key


def server_stats_invalidate(server_id: int) -> None:
    """Forget the cached live stats of a server (after a change that makes them stale)."""
    cache.delete(stats_cache_key(server_id))


# --- polling and history -------------------------------------------------------------
def _status_for(result: StatsResult, current: str) -> tuple[str, str]:
    if current == ServerStatus.DRAINING:
        return current, "Drained by an operator." if result.ok else result.error[:255]
    if result.ok:
        return ServerStatus.ONLINE, ""
    if result.reachable:
        return ServerStatus.DEGRADED, result.error[:255]
    return ServerStatus.OFFLINE, result.error[:255]


def servers_poll(*, server_ids: list[int] | None = None, now: datetime | None = None) -> dict[str, str]:
    """Ask every agent for fresh stats (in parallel), update status, last seen, capacity and history.

    Returns {server name: new status}. Fresh answers also refill the stats cache. The writes
    of the whole round are one transaction, the history rows one insert: with 100 hosts, one
    commit per host would cost more than asking them all.
    """
    now = now or timezone.now()
    servers = list(Server.objects.all() if server_ids is None else Server.objects.filter(pk__in=server_ids))
    results = servers_stats_fetch(servers, use_cache=False)
    outcome = {}
    history: list[ServerStats] = []
    with transaction.atomic():
        for server in servers:
            result = results[server.pk]
            status, detail = _status_for(result, server.status)
            update: dict[str, Any] = {"status": status, "status_detail": detail}
            if result.ok:
                stats = result.stats
                update.update(
                    last_seen=now,
                    cpu_count=stats["cpu_count"],
                    memory_total=stats["memory_total"],
                    disk_total=stats["disk_total"],
                    gpu_count=stats["gpu_count"],
                )
                history.append(
                    ServerStats(
                        server=server,
                        at=now,
                        **{
                            k: stats[k]
                            for k in (
                                "cpu_percent",
                                "load1",
                                "memory_used",
                                "memory_total",
                                "disk_used",
                                "disk_total",
                                "gpu_count",
                                "gpu_util_percent",
                                "containers_running",
                                "containers_total",
                            )
                        },
                    )
                )
            elif result.reachable:
                update["last_seen"] = now
            # A conditional update: an operator's drain in the meantime is not overwritten.
            queryset = Server.objects.filter(pk=server.pk)
            if status != ServerStatus.DRAINING:
                queryset = queryset.exclude(status=ServerStatus.DRAINING)
            queryset.update(**update, updated_at=now)
            if server.status != status:
                logger.info("Server {} is now {} {}", server.name, status, detail)
            outcome[server.name] = status
        ServerStats.objects.bulk_create(history)
    return outcome


def server_stats_prune(*, now: datetime | None = None, dry_run: bool = False) -> int:
    """Delete stats history older than SERVER_STATS_RETENTION_DAYS; returns the number of rows.

    With `dry_run` nothing is deleted and the number that would be is returned.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.SERVER_STATS_RETENTION_DAYS)
    old = ServerStats.objects.filter(at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    return deleted
