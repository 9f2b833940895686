"""Read-only checks of the services the platform depends on."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Max
from kombu import Connection


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"
        return Check("database", False, f"unreachable ({type(exc).__name__})")
    return Check("database", True, connection.vendor)


def _cache() -> Check:
    key, value = f"health:{uuid.uuid4().hex}", "1"
    try:
        cache.set(key, value, timeout=5)
        ok = cache.get(key) == value
        cache.delete(key)
    except Exception as exc:
        return Check("cache", False, f"unreachable ({type(exc).__name__})")
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return Check("cache", ok, backend if ok else "read back a different value")


def _broker() -> Check:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return Check("broker", True, "eager (tasks run in-process)")
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return Check("broker", False, f"unreachable ({type(exc).__name__})")
    return Check("broker", True, "reachable")


# The Celery queues whose backlog operators watch (CELERY_TASK_ROUTES plus Celery's default).
WATCHED_QUEUES = ("provisioning", "builds", "default")
_PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport keeps messages of priority N in "<queue>\x06\x16N"


def celery_queue_depths(queues: tuple[str, ...] = WATCHED_QUEUES) -> dict[str, int | None] | None:
    """Messages waiting in each queue (Redis LLEN, every priority level); None when the broker is
    not Redis (eager, memory, filesystem), a queue's value None when Redis did not answer."""
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    depths: dict[str, int | None] = {}
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.llen(queue)
                for priority in (3, 6, 9):
                    pipe.llen(f"{queue}{_PRIORITY_SEP}{priority}")
            counts = pipe.execute()
    except Exception:  # any client error means "not known", never a broken page
        return dict.fromkeys(queues)
    for index, queue in enumerate(queues):
        depths[queue] = sum(counts[index * 4 : index * 4 + 4])
    return depths


def _age(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _heartbeat_age(queue: str) -> float | None:
    """Seconds since a worker of `queue` last ran the heartbeat (mgmt/tasks.py); None if never."""
    from .tasks import heartbeat_key

    try:
        seen = cache.get(heartbeat_key(queue))
    except Exception:  # the cache check names the cache itself
        return None
    return None if seen is None else time.time() - float(seen)


def worker_alive(queue: str) -> bool:
    """A worker of `queue` answered a heartbeat lately (always, when tasks run in-process)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True
    age = _heartbeat_age(queue)
    return age is not None and age <= 3 * settings.HEARTBEAT_SECONDS


def background_health() -> list[Check]:
    """Beat and a worker for each watched queue, from their heartbeats (mgmt/tasks.py); nothing to
    check when tasks run in-process."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return []
    from django_celery_beat.models import PeriodicTask

    limit, now = 3 * settings.HEARTBEAT_SECONDS, time.time()
    checks = []
    try:
        sent = PeriodicTask.objects.filter(name__startswith="mgmt-heartbeat-").aggregate(Max("last_run_at"))
    except DatabaseError:
        sent = {"last_run_at__max": None}
    last = sent["last_run_at__max"]
    if last is None:
        checks.append(Check("beat", False, "has never sent a heartbeat: is celery beat running?"))
    else:
        age = now - last.timestamp()
        checks.append(Check("beat", age <= limit, f"last heartbeat sent {_age(age)}"))
    for queue in WATCHED_QUEUES:
        name, age = f"worker:{queue}", _heartbeat_age(queue)
        if age is None:
            checks.append(Check(name, False, f"no worker has answered a heartbeat on {queue}"))
        else:
            checks.append(Check(name, age <= limit, f"last heartbeat {_age(age)}"))
    return checks


def system_health() -> list[Check]:
    """Database, cache and broker, each with a short status that hides credentials."""
    return [_database(), _cache(), _broker()]
