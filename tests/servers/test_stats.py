"""Stats fan-out (parallel, cached, bounded by the timeout), polling, status and history."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from servers.models import ServerStats, ServerStatus
from servers.selectors import servers_stats_fetch
from servers.services import hosts, stats
from tests.net import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _short_timeouts(settings):
    settings.AGENT_CONNECT_TIMEOUT = 0.5
    settings.AGENT_READ_TIMEOUT = 1.0
    settings.SERVER_STATS_TTL = 30


def test_fetch_normalizes_and_caches(stub_server, stub_agent):
    first = servers_stats_fetch([stub_server])[stub_server.pk]
    assert first.ok and first.stats["cpu_count"] == 8 and first.stats["memory_used"] == 4 * 2**30
    assert first.stats["containers_running"] == 2
    servers_stats_fetch([stub_server])
    assert len(stub_agent.behaviour.seen) == 1  # the second answer came from the cache


def test_a_fetch_in_progress_elsewhere_is_not_repeated(stub_server, stub_agent):
    from django.core.cache import cache

    from servers.selectors import _lock_key, stats_cache_key

    first = servers_stats_fetch([stub_server])[stub_server.pk]
    cache.delete(stats_cache_key(stub_server.pk))  # the TTL ran out…
    cache.add(_lock_key(stub_server.pk), 1, timeout=5)  # …and another request is fetching right now
    second = servers_stats_fetch([stub_server])[stub_server.pk]
    assert second.stale and second.ok and second.stats == first.stats
    assert len(stub_agent.behaviour.seen) == 1  # the agent was not asked twice
    cache.delete(_lock_key(stub_server.pk))
    assert not servers_stats_fetch([stub_server])[stub_server.pk].stale
    assert len(stub_agent.behaviour.seen) == 2


def test_dead_agent_is_cached_too(make_server):
    dead = make_server(agent_port=free_port())
    result = servers_stats_fetch([dead])[dead.pk]
    assert not result.ok and not result.reachable and dead.name in result.error
    started = time.monotonic()
    assert servers_stats_fetch([dead])[dead.pk].error == result.error
    assert time.monotonic() - started < 0.1


def test_slow_agent_does_not_delay_the_others(make_server, stub_server, stub_agent):
    from .stub_agent import StubAgent

    with StubAgent(stub_agent.secret) as slow_stub:
        slow_stub.behaviour.delay = 5
        slow = make_server(agent_port=slow_stub.port, agent_secret=slow_stub.secret)
        dead = make_server(agent_port=free_port())
        started = time.monotonic()
        results = servers_stats_fetch([stub_server, slow, dead])
        elapsed = time.monotonic() - started
    # Bounded by one agent's timeout (1.0 s read), not by the slow agent's 5 s nor by a sum.
    assert elapsed < 2.0, elapsed
    assert results[stub_server.pk].ok
    assert not results[slow.pk].ok and "timeout" in results[slow.pk].error
    assert not results[dead.pk].ok


def test_many_hung_agents_cost_one_timeout_per_round(make_server, stub_server, stub_agent):
    """More hung agents than the old pool had threads, listed before a live one: every agent has
    its own thread, so the round ends after one read timeout and the live agent still answers."""
    hung_sockets, hung = [], []
    try:
        for _ in range(40):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(4)  # the kernel accepts the connection; nobody ever answers
            hung_sockets.append(sock)
            hung.append(make_server(agent_port=sock.getsockname()[1]))
        started = time.monotonic()
        results = servers_stats_fetch([*hung, stub_server], use_cache=False)
        elapsed = time.monotonic() - started
    finally:
        for sock in hung_sockets:
            sock.close()
    assert 1.0 <= elapsed < 1.9, elapsed  # one read timeout (1.0 s), not one per 16 hung agents
    assert results[stub_server.pk].ok
    assert all(not results[s.pk].ok and not results[s.pk].reachable for s in hung)


def test_poll_writes_the_round_in_one_transaction(make_server, stub_agent, django_assert_max_num_queries):
    servers = [make_server(agent_port=stub_agent.port, agent_secret=stub_agent.secret) for _ in range(5)]
    with django_assert_max_num_queries(1 + len(servers) + 4):  # read, one update each, one insert
        stats.servers_poll()
    assert ServerStats.objects.filter(server__in=servers).count() == len(servers)


def test_poll_updates_status_capacity_and_history(make_server, stub_server, stub_agent):
    dead = make_server(agent_port=free_port())
    outcome = stats.servers_poll()
    assert outcome == {stub_server.name: ServerStatus.ONLINE, dead.name: ServerStatus.OFFLINE}
    stub_server.refresh_from_db()
    dead.refresh_from_db()
    assert stub_server.status == ServerStatus.ONLINE and stub_server.last_seen is not None
    assert (stub_server.cpu_count, stub_server.memory_total) == (8, 16 * 2**30)
    assert (
        dead.status == ServerStatus.OFFLINE and dead.last_seen is None and "unreachable" in dead.status_detail
    )
    row = ServerStats.objects.get(server=stub_server)
    assert (row.cpu_percent, row.memory_percent, row.disk_percent) == (12.5, 25.0, 25.0)
    assert not ServerStats.objects.filter(server=dead).exists()


def test_agent_error_means_degraded(stub_server, stub_agent):
    stub_agent.behaviour.status, stub_agent.behaviour.message = 503, "Docker daemon unavailable."
    stats.servers_poll()
    stub_server.refresh_from_db()
    assert stub_server.status == ServerStatus.DEGRADED
    assert stub_server.status_detail.endswith("Docker daemon unavailable.")


def test_poll_keeps_a_drained_server_draining(stub_server, admin_user):
    hosts.server_drain(actor=admin_user, server=stub_server)
    stats.servers_poll()
    stub_server.refresh_from_db()
    assert stub_server.status == ServerStatus.DRAINING and stub_server.last_seen is not None


def test_history_is_pruned_after_retention(stub_server, settings):
    settings.SERVER_STATS_RETENTION_DAYS = 7
    now = timezone.now()
    ServerStats.objects.create(server=stub_server, at=now - timedelta(days=8))
    ServerStats.objects.create(server=stub_server, at=now - timedelta(days=6))
    assert stats.server_stats_prune(now=now) == 1
    assert ServerStats.objects.count() == 1


def test_tasks_are_scheduled_and_run(settings, stub_server):
    from servers import tasks

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"servers.tasks.servers_poll_task", "servers.tasks.server_stats_prune_task"} <= scheduled
    tasks.servers_poll_task.delay()  # eager in tests
    assert ServerStats.objects.filter(server=stub_server).count() == 1
