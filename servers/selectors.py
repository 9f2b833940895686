"""Reads about Docker hosts: live stats (parallel, cached), history, dependents."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from loguru import logger

from .clients.agent import AgentClient, AgentError, AgentTarget, AgentUnavailable
from .fanout import agents_fan_out
from .models import Server, ServerStats


# --- live stats -------------------------------------------------------------------
@dataclass
class StatsResult:
    """What asking one agent for its stats gave: figures, or why there are none."""

    ok: bool
    reachable: bool  # the agent answered at all (an agent error still means reachable)
    fetched_at: str
    error: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: int = 0
    stale: bool = False  # an older answer, served while another request fetches a fresh one


def server_named(ident: str) -> Server | None:
    """The server called `ident`, or whose id it is (the shell commands' way to name one)."""
    lookup = Q(name=ident) | (Q(pk=int(ident)) if ident.isascii() and ident.isdigit() else Q(pk__in=[]))
    return Server.objects.filter(lookup).first()


def stats_cache_key(server_id: int) -> str:
    return f"servers:stats:{server_id}"


def _last_key(server_id: int) -> str:
    return f"servers:stats-last:{server_id}"


def _lock_key(server_id: int) -> str:
    return f"servers:stats-fetching:{server_id}"


def _from_cache(value: Any) -> StatsResult | None:
    if not isinstance(value, dict):
        return None
    try:
        return StatsResult(**value)
    except TypeError:  # written by another version of this code: fetch afresh
        return None


def _fetch_one(target: AgentTarget) -> StatsResult:
    started = time.monotonic()
    now = timezone.now().isoformat()
    try:
        raw = AgentClient(target).query_agent_stats()
    except AgentUnavailable as exc:
        return StatsResult(False, False, now, exc.message, elapsed_ms=_ms_since(started))
    except AgentError as exc:
        return StatsResult(False, True, now, exc.message, elapsed_ms=_ms_since(started))
    except Exception as exc:  # a malformed answer must not take the whole list down
        logger.warning("Stats of {} could not be read: {!r}", target.name, exc)
        return StatsResult(False, True, now, f"Unreadable stats from {target.name}.")
    return StatsResult(True, True, now, stats=normalize_stats(raw), elapsed_ms=_ms_since(started))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def servers_stats_fetch(servers: Iterable[Server], *, use_cache: bool = True) -> dict[int, StatsResult]:
    """Current stats of many servers: cached answers, the rest fetched in parallel.

    Every answer, good or bad, is cached for SERVER_STATS_TTL seconds, so a dead
    or slow agent costs at most its timeout once per TTL. The whole fan-out has
    a deadline slightly above one agent's timeout: an agent that is still not
    done then is reported as timed out and never delays the others. While one
    request (in any process) fetches a server, others get its last answer
    marked stale instead of asking the same agent again. The poll
    (`use_cache=False`) always asks.
    """
    servers = list(servers)
    results: dict[int, StatsResult] = {}
    deadline = settings.AGENT_CONNECT_TIMEOUT + settings.AGENT_READ_TIMEOUT + 0.5
    if use_cache and servers:
        cached = cache.get_many([stats_cache_key(s.pk) for s in servers])
        for server in servers:
            hit = _from_cache(cached.get(stats_cache_key(server.pk)))
            if hit is not None:
                results[server.pk] = hit
        for server in [s for s in servers if s.pk not in results]:
            if not cache.add(_lock_key(server.pk), 1, timeout=int(deadline) + 1):
                last = _from_cache(cache.get(_last_key(server.pk)))
                results[server.pk] = (
                    StatsResult(**{**asdict(last), "stale": True})
                    if last is not None
                    else StatsResult(
                        False, False, timezone.now().isoformat(), "Stats are being fetched.", stale=True
                    )
                )
    missing = [s for s in servers if s.pk not in results]
    if not missing:
        return results

    targets = {s.pk: AgentTarget.for_server(s) for s in missing}  # secrets decrypted here, not in threads
    answers = agents_fan_out(
        list(targets.values()),
        _fetch_one,
        deadline=deadline,
        late=lambda target: StatsResult(
            False,
            False,
            timezone.now().isoformat(),
            f"Agent on {target.name} did not answer within {deadline:.1f}s.",
            elapsed_ms=int(deadline * 1000),
        ),
        name="stats",
    )
    fresh = dict(zip(targets, answers, strict=True))
    cache.set_many({stats_cache_key(pk): asdict(r) for pk, r in fresh.items()}, settings.SERVER_STATS_TTL)
    cache.set_many({_last_key(pk): asdict(r) for pk, r in fresh.items()}, settings.SERVER_STATS_TTL * 20)
    if use_cache:
        cache.delete_many([_lock_key(pk) for pk in fresh])
    results.update(fresh)
    return results


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def normalize_stats(raw: Any) -> dict[str, Any]:
    """The agent's `/get_system_stats` answer as flat figures (missing parts become None)."""
    raw = raw if isinstance(raw, dict) else {}
    cpu = raw.get("cpu") or {}
    memory = raw.get("memory") or {}
    disk = (raw.get("disk") or {}).get("workspace") or {}
    docker_disk = (raw.get("disk") or {}).get("docker") or {}
    containers = raw.get("containers") or {}
    gpus = [g for g in raw.get("gpus") or [] if isinstance(g, dict)]
    load = cpu.get("load") or []
    utils = [
        u
        for u in (_num(g.get("utilization", g.get("utilization_percent", g.get("util")))) for g in gpus)
        if u is not None
    ]
    return {
        "cpu_count": _int(cpu.get("count")),
        "cpu_percent": _num(cpu.get("percent")),
        "load1": _num(load[0]) if load else None,
        "memory_total": _int(memory.get("total")),
        "memory_used": _int(memory.get("used")),
        "disk_total": _int(disk.get("total")),
        "disk_used": _int(disk.get("used")),
        "docker_disk_total": _int(docker_disk.get("total")),
        "docker_disk_used": _int(docker_disk.get("used")),
        "gpu_count": len(gpus),
        "gpu_util_percent": round(sum(utils) / len(utils), 1) if utils else None,
        "gpus": gpus,
        "containers_running": _int(containers.get("running")),
        "containers_total": _int(containers.get("total")),
        "docker_version": str(raw.get("docker_version") or ""),
    }


# --- history ---------------------------------------------------------------------
def server_stats_history(*, server: Server, hours: int = 24) -> QuerySet[ServerStats]:
    since = timezone.now() - timedelta(hours=hours)
    return ServerStats.objects.filter(server=server, at__gte=since).order_by("at")


# --- capacity overview (the admin's dashboard) ------------------------------------------------
def _latest_samples(servers: list[Server]) -> dict[int, ServerStats]:
    """The newest stored sample of each server (one query for the times, one for the rows)."""
    newest = (
        ServerStats.objects.filter(server__in=servers).values("server_id").annotate(at=Max("at")).order_by()
    )
    match = Q(pk__in=[])
    for row in newest:
        match |= Q(server_id=row["server_id"], at=row["at"])
    return {row.server_id: row for row in ServerStats.objects.filter(match)}


def server_capacity_overview(
    *, reservations: dict[int, dict[str, float]] | None = None, live: bool = True
) -> list[dict[str, Any]]:
    """Every server's CPU, memory, disk and GPU: used, reserved (from `reservations`, the sum of
    its workspaces' limits by server id) and capacity, with its status.

    Used figures come from the cached live stats the API shows (`servers_stats_fetch`), else from
    the newest stored sample; with neither they are None ("unknown"). Never raises for an agent.
    """
    servers = list(Server.objects.all())
    results = servers_stats_fetch(servers) if live and servers else {}
    samples = _latest_samples(servers)
    rows: list[dict[str, Any]] = []
    for server in servers:
        result = results.get(server.pk)
        sample = samples.get(server.pk)
        reserved = (reservations or {}).get(server.pk, {})
        if result is not None and result.ok:
            stats, source, as_of = result.stats, "live", result.fetched_at
        elif sample is not None:
            stats = {
                "cpu_percent": sample.cpu_percent,
                "memory_used": sample.memory_used,
                "memory_total": sample.memory_total,
                "disk_used": sample.disk_used,
                "disk_total": sample.disk_total,
                "gpu_util_percent": sample.gpu_util_percent,
            }
            source, as_of = "sample", sample.at.isoformat()
        else:
            stats, source, as_of = {}, "", None
        cpu_count = stats.get("cpu_count") or server.cpu_count
        cpu_percent = stats.get("cpu_percent")
        rows.append(
            {
                "server": server,
                "source": source,  # "live", "sample" or "" (unknown)
                "as_of": as_of,
                "error": result.error if result is not None and not result.ok else "",
                "cpu": {
                    "used": round(cpu_percent * cpu_count / 100, 2)
                    if cpu_percent is not None and cpu_count
                    else None,
                    "percent": cpu_percent,
                    "reserved": float(reserved.get("cpu", 0.0)),
                    "total": cpu_count,
                },
                "memory": {
                    "used": stats.get("memory_used"),
                    "reserved": int(reserved.get("memory", 0)),
                    "total": stats.get("memory_total") or server.memory_total,
                },
                "disk": {
                    "used": stats.get("disk_used"),
                    "total": stats.get("disk_total") or server.disk_total,
                },
                "gpu": {
                    "percent": stats.get("gpu_util_percent"),
                    "reserved": int(reserved.get("gpus", 0)),
                    "total": stats.get("gpu_count") if source == "live" else server.gpu_count,
                },
            }
        )
    return rows


# --- what lives on a server -------------------------------------------------------------
# Apps whose objects live on a server register a finder (containers does, for workspaces):
# a callable taking the Server and returning one short description per live object.
DependentFinder = Callable[[Server], list[str]]
_DEPENDENT_FINDERS: dict[str, DependentFinder] = {}


def register_server_dependents(kind: str, finder: DependentFinder) -> None:
    _DEPENDENT_FINDERS[kind] = finder


def unregister_server_dependents(kind: str) -> None:
    _DEPENDENT_FINDERS.pop(kind, None)


def server_dependents(*, server: Server) -> dict[str, list[str]]:
    """{kind: [description, …]} of everything that still lives on the server."""
    found = {kind: finder(server) for kind, finder in _DEPENDENT_FINDERS.items()}
    return {kind: items for kind, items in found.items() if items}
