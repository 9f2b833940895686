"""Traffic counters, hourly rollup, the traffic API and admin page, and Prometheus /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from servers.models import Server, ServerStatus
from traffic import counters
from traffic.counters import RouteKey
from traffic.models import TrafficHourly
from traffic.services import traffic_rollup

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.servers.urls")]


@pytest.fixture
def client_500():
    return APIClient(raise_request_exception=False)


def send_known_sequence(client: APIClient, admin_user, alice) -> None:
    client.force_authenticate(admin_user)
    for _ in range(3):
        assert client.get("/api/servers").status_code == 200
    assert client.get("/api/servers/999999").status_code == 404
    assert client.get("/api/nowhere").status_code == 404
    client.force_authenticate(alice)
    for _ in range(2):
        assert client.get("/api/servers").status_code == 403
    client.force_authenticate(None)
    assert client.get("/api/test/boom").status_code == 500
    for _ in range(4):  # excluded
        client.get("/api/health")
    client.get("/metrics")


def test_counters_match_a_known_sequence(client_500, admin_user, alice):
    send_known_sequence(client_500, admin_user, alice)
    totals = counters.read_totals()
    counts = {key: row["count"] for key, row in totals.items()}
    assert counts == {
        RouteKey("GET", "/api/servers", "2xx"): 3,
        RouteKey("GET", "/api/servers", "4xx"): 2,
        RouteKey("GET", "/api/servers/<pk>", "4xx"): 1,
        RouteKey("GET", counters.UNMATCHED, "4xx"): 1,
        RouteKey("GET", "/api/test/boom", "5xx"): 1,
    }
    assert totals[RouteKey("GET", "/api/test/boom", "5xx")]["errors"] == 1
    assert sum(row["errors"] for row in totals.values()) == 1
    hour = counters.read_hour(counters.hour_start(datetime.now(UTC)))
    assert {key: row["count"] for key, row in hour.items()} == counts
    for row in hour.values():
        assert sum(row["buckets"]) == row["count"]
        assert row["duration_ms_max"] * row["count"] >= row["duration_ms_total"]


def test_rollup_writes_hourly_rows_idempotently(client_500, admin_user, alice):
    send_known_sequence(client_500, admin_user, alice)
    assert traffic_rollup() == 5
    assert traffic_rollup() == 5  # the current hour is rewritten, not added twice
    row = TrafficHourly.objects.get(route="/api/servers", status_class="2xx")
    assert row.count == 3 and row.errors == 0 and row.hour.minute == 0
    assert TrafficHourly.objects.get(route="/api/test/boom").errors == 1
    assert TrafficHourly.objects.count() == 5


def test_finished_hours_leave_the_cache(admin_user):
    last_hour = datetime.now(UTC) - timedelta(hours=1)
    counters.record_request(method="GET", route="/api/x", status=200, duration_ms=12, at=last_hour)
    counters.record_request(method="GET", route="/api/x", status=502, duration_ms=40, at=last_hour)
    traffic_rollup()
    assert counters.pending_hours() == []
    rows = {r.status_class: r for r in TrafficHourly.objects.filter(route="/api/x")}
    assert rows["2xx"].count == 1 and rows["5xx"].errors == 1 and rows["5xx"].duration_ms_max == 40


def test_traffic_api_and_admin_page(client_500, admin_user, alice, qvp_user):
    send_known_sequence(client_500, admin_user, alice)
    traffic_rollup()
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get("/api/admin/traffic").status_code == 403
    client.force_authenticate(qvp_user)
    response = client.get("/api/admin/traffic?hours=2")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["total_requests"] == 8 and data["total_errors"] == 1
    assert data["top_routes"][0]["route"] == "/api/servers" and data["top_routes"][0]["count"] == 5
    assert data["top_routes"][0]["client_errors"] == 2
    assert (
        data["error_routes"][0]["route"] == "/api/test/boom" and data["error_routes"][0]["error_rate"] == 1.0
    )

    client.force_login(admin_user)
    page = client.get("/admin/traffic/traffichourly/")
    assert page.status_code == 200
    assert b"Top routes" in page.content and b"/api/test/boom" in page.content


def test_metrics_needs_a_token_or_network(api_client, settings, make_server):
    from django.utils import timezone

    make_server(name="up-1", status=ServerStatus.ONLINE)
    make_server(name="down-1", status=ServerStatus.OFFLINE)
    make_server(name="drain-seen", status=ServerStatus.DRAINING, last_seen=timezone.now())
    make_server(
        name="drain-gone", status=ServerStatus.DRAINING, last_seen=timezone.now() - timedelta(hours=1)
    )
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    assert api_client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "metrics-token-123"
    assert api_client.get("/metrics").status_code == 401
    assert api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-123")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'mgmt_server_up{server="up-1"} 1.0' in body
    assert 'mgmt_server_up{server="down-1"} 0.0' in body
    assert 'mgmt_server_up{server="drain-seen"} 1.0' in body
    assert 'mgmt_server_up{server="drain-gone"} 0.0' in body
    assert 'mgmt_servers{status="online"} 1.0' in body
    assert 'mgmt_servers{status="draining"} 2.0' in body
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["not-a-network", "10.0.0.0/8"]
    assert api_client.get("/metrics").status_code == 401
    settings.METRICS_ALLOWED_NETWORKS = ["not-a-network", "127.0.0.0/8"]
    assert api_client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1


def test_metrics_expose_requests_and_task_outcomes(client_500, admin_user, alice, settings):
    from traffic import tasks

    settings.METRICS_TOKEN = "t0ken-for-metrics"
    send_known_sequence(client_500, admin_user, alice)
    tasks.traffic_rollup_task.delay()
    body = client_500.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-metrics").content.decode()
    assert 'mgmt_http_requests_total{method="GET",route="/api/servers",status_class="2xx"} 3.0' in body
    assert 'mgmt_http_requests_total{method="GET",route="/api/test/boom",status_class="5xx"} 1.0' in body
    assert "mgmt_http_request_errors" not in body  # the 5xx series is the error count
    assert (
        'mgmt_http_request_duration_seconds_count{method="GET",route="/api/servers",status_class="4xx"} 2.0'
        in body
    )
    assert 'mgmt_celery_tasks_total{outcome="success",task="traffic.tasks.traffic_rollup_task"} 1.0' in body
    assert "/metrics" not in [line for line in body.splitlines() if "route=" in line]


def test_metrics_have_host_figures_every_workspace_status_and_api_traffic_only(
    client_500, admin_user, settings, make_server
):
    from containers.models import WorkspaceStatus
    from servers.models import ServerStats

    settings.METRICS_TOKEN = "t0ken-for-metrics"
    host = make_server(name="gpu-1", status=ServerStatus.ONLINE)
    ServerStats.objects.create(
        server=host, cpu_percent=12.5, memory_used=3 * 1024**3, memory_total=8 * 1024**3,
        disk_used=10, disk_total=100, gpu_count=2, load1=0.5, containers_running=4,
    )  # fmt: skip
    ServerStats.objects.create(server=host, at=datetime.now(UTC) - timedelta(hours=1), cpu_percent=99)
    client_500.force_login(admin_user)
    assert client_500.get("/admin/").status_code == 200  # an admin page: not API traffic
    body = client_500.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-metrics").content.decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    gpu_1 = (("server", "gpu-1"),)
    assert samples[("mgmt_server_cpu_utilization_ratio", gpu_1)] == 0.125  # the newest sample
    assert samples[("mgmt_server_memory_total_bytes", gpu_1)] == 8 * 1024**3
    assert samples[("mgmt_server_gpus", gpu_1)] == 2
    for status in WorkspaceStatus.values:
        assert samples[("mgmt_workspaces", (("status", status),))] == 0
    assert 'route="/admin' not in body


def test_admin_server_page_shows_history_charts(client_500, admin_user, make_server):
    from django.utils import timezone

    from servers.models import ServerStats

    server = make_server()
    now = timezone.now()
    for minutes in (50, 30, 10):
        ServerStats.objects.create(
            server=server,
            at=now - timedelta(minutes=minutes),
            cpu_percent=minutes,
            memory_used=1,
            memory_total=2,
            containers_running=1,
        )
    client_500.force_login(admin_user)
    page = client_500.get(f"/admin/servers/server/{server.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('role="img"') == 5 and "<polyline" in html
    assert server.agent_secret not in html


def test_admin_registers_through_the_service(client_500, admin_user):
    from audit.models import AuditLog

    client_500.force_login(admin_user)
    response = client_500.post(
        "/admin/servers/server/add/",
        {
            "name": "admin-made",
            "address": "10.9.8.7",
            "agent_port": "5005",
            "new_agent_secret": "an-admin-entered-secret",
            "ssh_port": "22",
            "labels": "{}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    server = Server.objects.get(name="admin-made")
    assert server.agent_secret == "an-admin-entered-secret"
    assert AuditLog.objects.get(action_type="server.registered").source == "admin"
    bad = client_500.post(
        "/admin/servers/server/add/",
        {
            "name": "x2",
            "address": "http://evil/",
            "agent_port": "5005",
            "new_agent_secret": "s" * 20,
            "ssh_port": "22",
            "labels": "{}",
        },
    )
    assert bad.status_code == 200 and b"neither an IP address" in bad.content


def test_metric_names_pass_promtool_and_the_grafana_dashboard_uses_only_real_ones(
    client_500, admin_user, alice, settings, make_server
):
    """Prometheus naming (`promtool check metrics`), and deploy/grafana's queries name metrics
    /metrics really has."""
    import json
    import re
    import subprocess
    from pathlib import Path

    from servers.models import ServerStats
    from tests.services import require_binary

    promtool = require_binary("promtool", "prometheus")
    settings.METRICS_TOKEN = "t0ken-for-metrics"
    from traffic import tasks

    ServerStats.objects.create(
        server=make_server(name="h1"), cpu_percent=5, load1=0.1, memory_used=1, memory_total=2,
        disk_used=1, disk_total=2, gpu_count=0, containers_running=1,
    )  # fmt: skip
    send_known_sequence(client_500, admin_user, alice)
    tasks.traffic_rollup_task.delay()  # a Celery outcome to count
    body = client_500.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-metrics").content.decode()
    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr

    exposed = {sample.name for family in text_string_to_metric_families(body) for sample in family.samples}
    dashboard = json.loads(
        (Path(__file__).resolve().parents[2] / "deploy/grafana/mgmt-dashboard.json").read_text()
    )
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(mgmt_[a-z0-9_]+)", target["expr"])
    }
    assert queried and queried <= exposed, queried - exposed
