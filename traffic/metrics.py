"""Prometheus `GET /metrics`: servers, workspaces, API requests, Celery task outcomes.

Figures are read at scrape time from the database and from the shared cache
counters (which every web process and worker writes), so the numbers are the
platform's, not one process's. Access needs `Authorization: Bearer
<METRICS_TOKEN>` (constant-time compare) or a client address inside
`METRICS_ALLOWED_NETWORKS`; with neither configured the endpoint answers 404.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from servers.models import Server, ServerStatus

from . import counters

CELERY_OUTCOMES_KEY = "metrics:celery:outcomes"


def record_task_outcome(task_name: str, outcome: str) -> None:
    try:
        counters.store().hincr(CELERY_OUTCOMES_KEY, f"{task_name}{counters._SEP}{outcome}")
    except Exception as exc:  # metrics are best effort
        logger.warning("Celery outcome not counted: {!r}", exc)


def _on_success(sender: Any = None, **_: Any) -> None:
    record_task_outcome(getattr(sender, "name", str(sender)), "success")


def _on_failure(sender: Any = None, **_: Any) -> None:
    record_task_outcome(getattr(sender, "name", str(sender)), "failure")


def _on_retry(sender: Any = None, **_: Any) -> None:
    record_task_outcome(getattr(sender, "name", str(sender)), "retry")


def connect_celery_signals() -> None:
    from celery.signals import task_failure, task_retry, task_success

    task_success.connect(_on_success, weak=False, dispatch_uid="traffic.metrics.success")
    task_failure.connect(_on_failure, weak=False, dispatch_uid="traffic.metrics.failure")
    task_retry.connect(_on_retry, weak=False, dispatch_uid="traffic.metrics.retry")


class PlatformCollector(Collector):
    def collect(self) -> Iterator[Any]:
        yield from self._servers()
        yield from self._server_resources()
        yield from self._workspaces()
        yield from self._requests()
        yield from self._celery()

    def _servers(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "mgmt_server_up", "1 when the server's agent answered the last poll.", labels=["server"]
        )
        by_status = GaugeMetricFamily("mgmt_servers", "Registered servers by status.", labels=["status"])
        counts = dict.fromkeys(ServerStatus.values, 0)
        # A draining server's status hides reachability: up when it answered in the last three polls.
        recent = timezone.now() - timedelta(seconds=3 * settings.SERVER_STATS_POLL_SECONDS)
        for name, status, last_seen in Server.objects.values_list("name", "status", "last_seen"):
            answered = status == ServerStatus.ONLINE or (
                status == ServerStatus.DRAINING and last_seen is not None and last_seen >= recent
            )
            up.add_metric([name], 1.0 if answered else 0.0)
            counts[status] = counts.get(status, 0) + 1
        for status, count in counts.items():
            by_status.add_metric([status], count)
        yield up
        yield by_status

    # (metric name, help, ServerStats field, scale to base units)
    _RESOURCES = (
        ("mgmt_server_cpu_utilization_ratio", "CPU in use, 0 to 1, at the last poll.", "cpu_percent", 0.01),
        ("mgmt_server_load1", "One-minute load average at the last poll.", "load1", 1),
        ("mgmt_server_memory_used_bytes", "Memory in use at the last poll.", "memory_used", 1),
        ("mgmt_server_memory_total_bytes", "Memory of the host.", "memory_total", 1),
        ("mgmt_server_disk_used_bytes", "Disk in use at the last poll.", "disk_used", 1),
        ("mgmt_server_disk_total_bytes", "Disk of the host.", "disk_total", 1),
        ("mgmt_server_gpus", "GPUs of the host.", "gpu_count", 1),
        ("mgmt_server_containers_running", "Containers running at the last poll.", "containers_running", 1),
    )

    def _server_resources(self) -> Iterator[Any]:
        """Each host's figures from its newest stored sample (the periodic poll writes them)."""
        families = [(GaugeMetricFamily(name, text, labels=["server"]), field, scale)
                    for name, text, field, scale in self._RESOURCES]  # fmt: skip
        for server in Server.objects.only("pk", "name"):
            sample = server.stats_history.order_by("-at").first()
            if sample is None:
                continue
            for family, field, scale in families:
                value = getattr(sample, field)
                if value is not None:
                    family.add_metric([server.name], value * scale)
        for family, _, _ in families:
            yield family

    def _workspaces(self) -> Iterator[Any]:
        family = GaugeMetricFamily("mgmt_workspaces", "Workspaces by status.", labels=["status"])
        try:
            workspace = apps.get_model("containers", "Workspace")
        except LookupError:  # the workspaces app has no model yet
            yield family
            return
        # Every status, zeros included: a rule on `failed` must see 0, not an absent series.
        counts = {value: 0 for value, _ in workspace._meta.get_field("status").choices}
        for row in workspace.objects.values("status").annotate(n=Count("pk")).order_by():
            counts[row["status"]] = row["n"]
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family

    def _requests(self) -> Iterator[Any]:
        # The API's traffic only (admin and people's pages are not API use); errors are the
        # status_class="5xx" series, not a second counter that is zero everywhere else.
        labels = ["route", "method", "status_class"]
        requests = CounterMetricFamily("mgmt_http_requests", "API requests handled.", labels=labels)
        latency = HistogramMetricFamily(
            "mgmt_http_request_duration_seconds", "Time to answer API requests.", labels=labels
        )
        for key, row in sorted(counters.read_totals().items()):
            if not key.route.startswith("/api/"):
                continue
            label_values = [key.route, key.method, key.status_class]
            requests.add_metric(label_values, row["count"])
            cumulative, buckets = 0, []
            bounds = [*counters.LATENCY_BUCKETS_MS, float("inf")]
            for bound, count in zip(bounds, row["buckets"], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound / 1000), cumulative))
            latency.add_metric(label_values, buckets, sum_value=row["duration_ms_total"] / 1000)
        yield requests
        yield latency

    def _celery(self) -> Iterator[Any]:
        family = CounterMetricFamily("mgmt_celery_tasks", "Celery task outcomes.", labels=["task", "outcome"])
        for name, count in sorted(counters.store().hgetall(CELERY_OUTCOMES_KEY).items()):
            task, outcome = name.rsplit(counters._SEP, 1)
            family.add_metric([task, outcome], count)
        yield family


_registry = CollectorRegistry(auto_describe=False)
_registry.register(PlatformCollector())


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if (
        token
        and header.startswith("Bearer ")
        and hmac.compare_digest(header[7:].strip().encode(), token.encode())
    ):
        return True
    address = request.META.get("REMOTE_ADDR", "")
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.METRICS_ALLOWED_NETWORKS:
        try:
            if client in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.warning("METRICS_ALLOWED_NETWORKS: {!r} is not a network; ignored", network)
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_NETWORKS:
        return HttpResponse(
            "Metrics are not enabled (set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS).\n",
            status=404,
            content_type="text/plain",
        )
    if not _allowed(request):
        response = HttpResponse("Not allowed.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)
