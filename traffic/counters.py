"""API traffic counters: the original's TrafficTracker, fed by `traffic.middleware`.

Each request adds, in one Redis round trip (a small Lua script), to a hash per
hour keyed by route template, method and status class: count, errors (5xx),
total and max milliseconds and a latency bucket. The same figures go to an
all-time hash that `/metrics` exposes as Prometheus counters. The hourly
rollup (`traffic.services.traffic_rollup`) turns the hour hashes into
`TrafficHourly` rows. Without Redis (the embedded development default) a
process-local store does the same.

Health and metrics endpoints are not counted (`TRAFFIC_EXCLUDED_PATHS`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache

# Upper bounds in milliseconds; a last, unbounded bucket follows.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_HOUR_FORMAT = "%Y%m%d%H"
_SEP = "|"
UNMATCHED = "<unmatched>"


class RouteKey(NamedTuple):
    method: str
    route: str
    status_class: str


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def bucket_index(ms: float) -> int:
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if ms <= bound:
            return index
    return len(LATENCY_BUCKETS_MS)


def _field(key: RouteKey, metric: str) -> str:
    return _SEP.join((key.method, key.route, key.status_class, metric))


def _parse_field(name: str) -> tuple[RouteKey, str]:
    method, rest = name.split(_SEP, 1)
    route, status_class, metric = rest.rsplit(_SEP, 2)
    return RouteKey(method, route, status_class), metric


# --- stores -------------------------------------------------------------------------
_RECORD_LUA = """
-- KEYS: hour hash, totals hash, hours set; ARGV: hour id, ttl, then (field, increment) pairs, max field, ms
redis.call('SADD', KEYS[3], ARGV[1])
local n = #ARGV
for i = 3, n - 2, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[n - 1]) or '0')
if tonumber(ARGV[n]) > current then redis.call('HSET', KEYS[1], ARGV[n - 1], ARGV[n]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class _RedisStore:
    def __init__(self) -> None:
        from django_redis import get_redis_connection

        self.client = get_redis_connection("default")
        self.script = self.client.register_script(_RECORD_LUA)

    def record(self, hour: str, increments: dict[str, int], max_field: str, ms: int) -> None:
        args: list[Any] = [hour, 8 * 24 * 3600]
        for name, value in increments.items():
            args += [name, value]
        args += [max_field, ms]
        self.script(keys=[_hour_key(hour), _totals_key(), _hours_key()], args=args)

    def hours(self) -> list[str]:
        return sorted(h.decode() for h in self.client.smembers(_hours_key()))

    def read(self, hour: str) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(_hour_key(hour)).items()}

    def totals(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(_totals_key()).items()}

    def forget(self, hour: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(_hour_key(hour))
        pipe.srem(_hours_key(), hour)
        pipe.execute()

    def hincr(self, key: str, field: str, amount: int = 1) -> None:
        self.client.hincrby(cache.make_key(key), field, amount)

    def hgetall(self, key: str) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(cache.make_key(key)).items()}

    def clear(self) -> None:
        for hour in self.hours():
            self.forget(hour)
        self.client.delete(_totals_key())


class _LocalStore:
    """Development fallback without Redis: one process's figures, under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, int]] = defaultdict(dict)

    def record(self, hour: str, increments: dict[str, int], max_field: str, ms: int) -> None:
        with self.lock:
            for target in (self.data["hour:" + hour], self.data["totals"]):
                for name, value in increments.items():
                    target[name] = target.get(name, 0) + value
            bucket = self.data["hour:" + hour]
            bucket[max_field] = max(bucket.get(max_field, 0), ms)

    def hours(self) -> list[str]:
        with self.lock:
            return sorted(k[5:] for k in self.data if k.startswith("hour:"))

    def read(self, hour: str) -> dict[str, int]:
        with self.lock:
            return dict(self.data.get("hour:" + hour, {}))

    def totals(self) -> dict[str, int]:
        with self.lock:
            return dict(self.data.get("totals", {}))

    def forget(self, hour: str) -> None:
        with self.lock:
            self.data.pop("hour:" + hour, None)

    def hincr(self, key: str, field: str, amount: int = 1) -> None:
        with self.lock:
            self.data[key][field] = self.data[key].get(field, 0) + amount

    def hgetall(self, key: str) -> dict[str, int]:
        with self.lock:
            return dict(self.data.get(key, {}))

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


def _hour_key(hour: str) -> str:
    return cache.make_key(f"traffic:hour:{hour}")


def _totals_key() -> str:
    return cache.make_key("traffic:totals")


def _hours_key() -> str:
    return cache.make_key("traffic:hours")


_store_lock = threading.Lock()
_store: _RedisStore | _LocalStore | None = None


def store() -> _RedisStore | _LocalStore:
    global _store
    with _store_lock:
        if _store is None:
            backend = settings.CACHES["default"]["BACKEND"]
            _store = _RedisStore() if backend.startswith("django_redis.") else _LocalStore()
        return _store


# --- recording and reading -------------------------------------------------------------
def record_request(*, method: str, route: str, status: int, duration_ms: float, at: datetime) -> None:
    key = RouteKey(method.upper()[:10], route[:255], f"{status // 100}xx")
    ms = round(duration_ms)
    increments = {
        _field(key, "count"): 1,
        _field(key, "ms"): ms,
        _field(key, f"b{bucket_index(ms)}"): 1,
    }
    if status >= 500:
        increments[_field(key, "errors")] = 1
    store().record(hour_start(at).strftime(_HOUR_FORMAT), increments, _field(key, "max"), ms)


def _figures(raw: dict[str, int]) -> dict[RouteKey, dict[str, Any]]:
    rows: dict[RouteKey, dict[str, Any]] = {}
    for name, value in raw.items():
        key, metric = _parse_field(name)
        row = rows.setdefault(
            key,
            {
                "count": 0,
                "errors": 0,
                "duration_ms_total": 0,
                "duration_ms_max": 0,
                "buckets": [0] * (len(LATENCY_BUCKETS_MS) + 1),
            },
        )
        if metric == "count":
            row["count"] = value
        elif metric == "errors":
            row["errors"] = value
        elif metric == "ms":
            row["duration_ms_total"] = value
        elif metric == "max":
            row["duration_ms_max"] = value
        elif metric.startswith("b"):
            row["buckets"][int(metric[1:])] = value
    return rows


def pending_hours() -> list[datetime]:
    return [datetime.strptime(h, _HOUR_FORMAT).replace(tzinfo=UTC) for h in store().hours()]


def read_hour(hour: datetime) -> dict[RouteKey, dict[str, Any]]:
    return _figures(store().read(hour.strftime(_HOUR_FORMAT)))


def read_totals() -> dict[RouteKey, dict[str, Any]]:
    """All-time counters since the cache was last emptied (Prometheus counters)."""
    return _figures(store().totals())


def forget_hour(hour: datetime) -> None:
    store().forget(hour.strftime(_HOUR_FORMAT))
