"""The lists hold at 10,000 people and a million audit rows (bench/bench_scale.py times them):
no query per row, the audit log is never counted in full, and its CSV export streams in
constant memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import selectors as audit_selectors
from audit.models import AuditLog, LogLevel
from containers.models import WorkspaceStatus
from mgmt.pagination import CappedCountPaginator
from tests.edge_client import edge_cookie_made
from tests.factories import ServerFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
BACKEND = "django.contrib.auth.backends.AllowAllUsersModelBackend"

# (client, path, at most this many queries): each list the bench times.
LISTS = [
    ("api", "/api/admin/users", 4),
    ("api", "/api/workspaces", 4),
    ("api", "/api/servers", 4),
    ("api", "/api/admin/audit-logs", 4),
    ("api", "/api/admin/audit-logs?action=user.&level=warning&since=2000-01-01T00:00:00Z", 4),
    ("api", "/api/admin/audit-logs/export", 4),
    ("site", "/admin/accounts/user/", 8),
    ("site", "/admin/containers/workspace/", 10),
    ("site", "/admin/servers/server/", 8),
    ("site", "/admin/audit/auditlog/", 10),
    ("site", "/admin/audit/auditlog/?log_level__exact=warning", 10),
]


def _audit_rows(count: int, *, start: int = 0) -> None:
    """`count` rows, a quarter of them `user.*` warnings, one a second back from now."""
    now = timezone.now()
    AuditLog.objects.bulk_create(
        [
            AuditLog(
                username=f"u{start + i}",
                action_type="user.update" if i % 4 == 0 else "workspace.start",
                log_level=LogLevel.WARNING if i % 4 == 0 else LogLevel.INFO,
                details={"n": start + i},
                target_repr="=formula" if i % 7 == 0 else "",
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    # auto_now_add stamped them all "now"; spread them (update() is not a row's save()).
    for offset, pk in enumerate(AuditLog.objects.order_by("pk").values_list("pk", flat=True)[start:]):
        AuditLog.objects.filter(pk=pk).update(created_at=now - timedelta(seconds=offset))


def _grow(count: int) -> None:
    """`count` more people, servers and workspaces (every other one on no server) and audit rows."""
    servers = [ServerFactory() for _ in range(count)]
    for i in range(count):
        WorkspaceFactory(
            owner=UserFactory(),
            server=servers[i] if i % 2 else None,
            status=WorkspaceStatus.ACTIVE,
            vscode_port=20000 + i if i % 2 else None,
            jupyter_port=30000 + i if i % 2 else None,
        )
    AuditLog.objects.bulk_create(
        [
            AuditLog(
                username=f"u{i}",
                action_type="user.update" if i % 2 else "workspace.start",
                log_level=LogLevel.WARNING if i % 2 else LogLevel.INFO,
            )
            for i in range(count)
        ]
    )


def _queries(client: Client, path: str, **extra) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **extra)
        assert response.status_code == 200, (path, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)
    return len(captured.captured_queries)


@pytest.fixture
def clients(admin_user, api_as) -> dict[str, Client]:
    site = Client()
    site.force_login(admin_user, backend=BACKEND)
    return {"api": api_as(admin_user), "site": site}


@pytest.mark.parametrize(("which", "path", "limit"), LISTS, ids=[f"{w}:{p}" for w, p, _ in LISTS])
def test_a_list_costs_the_same_queries_for_3_rows_and_for_30(
    clients, which, path, limit, django_assert_max_num_queries
):
    client = clients[which]
    _grow(3)
    _queries(client, path)  # sessions, caches and role lookups settle on the first request
    few = _queries(client, path)
    _grow(27)
    with django_assert_max_num_queries(limit):
        many = _queries(client, path)
    assert many == few, f"{path}: {few} queries for 3 rows, {many} for 30 (one query per row?)"


def test_the_edge_verify_is_one_query_whatever_the_number_of_workspaces(client, django_assert_num_queries):
    from containers import nginx

    _grow(30)
    owner = UserFactory()
    workspace = WorkspaceFactory(owner=owner, status=WorkspaceStatus.ACTIVE)
    nginx.add_user_route(
        username=owner.username,
        vscode=nginx.Upstream("127.0.0.1", 9),
        jupyter=nginx.Upstream("127.0.0.1", 9),
    )
    host, cookie = edge_cookie_made(user=owner, workspace=workspace)
    assert client.get("/edge/verify", HTTP_HOST=host, HTTP_X_EDGE_TOKEN=cookie).status_code == 200
    with django_assert_num_queries(1):  # the activity write happened on the first answer
        assert client.get("/edge/verify", HTTP_HOST=host, HTTP_X_EDGE_TOKEN=cookie).status_code == 200


def test_the_audit_count_stops_at_the_cap(clients, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    _audit_rows(8)
    body = clients["api"].get("/api/admin/audit-logs?page_size=2").json()["data"]
    assert body["count"] == 5 and len(body["results"]) == 2
    assert [r["username"] for r in body["results"]] == ["u0", "u1"]  # newest first
    page = clients["site"].get("/admin/audit/auditlog/")
    assert page.status_code == 200 and page.context["cl"].result_count == 5


def test_the_keyset_chunks_give_every_row_once_in_order_even_with_equal_timestamps():
    _audit_rows(11)
    same = timezone.now() - timedelta(hours=1)
    AuditLog.objects.filter(pk__in=list(AuditLog.objects.values_list("pk", flat=True)[:6])).update(
        created_at=same
    )
    expected = list(AuditLog.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as captured:
        entries = audit_selectors.audit_log_entries(
            queryset=AuditLog.objects.all(), chunk_size=4, first_chunk=2
        )
        assert [entry.pk for entry in entries] == expected
    assert len(captured.captured_queries) == 4  # 2, 4, 4, then the last 1
    warnings = audit_selectors.audit_log_entries(
        queryset=AuditLog.objects.filter(log_level=LogLevel.WARNING), chunk_size=2, first_chunk=1
    )
    levels = dict(AuditLog.objects.values_list("pk", "log_level"))
    assert [e.pk for e in warnings] == [pk for pk in expected if levels[pk] == LogLevel.WARNING]


def _export_peak(client: Client) -> tuple[int, int, list[str]]:
    """(rows, tracemalloc peak in bytes, the SQL it ran) of one whole export, read as a
    client would: each line as it comes, nothing kept."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/admin/audit-logs/export")
        assert isinstance(response, StreamingHttpResponse)
        rows = 0
        tracemalloc.start()
        try:
            for line in response.streaming_content:
                rows += 1
                if rows == 2:
                    assert next(csv.reader(io.StringIO(line.decode())))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return rows - 1, peak, [q["sql"] for q in captured.captured_queries]


def test_the_csv_export_streams_in_constant_memory(clients):
    client = clients["api"]
    _audit_rows(2_000)
    rows, small_peak, _ = _export_peak(client)
    assert rows == 2_000
    _audit_rows(18_000, start=2_000)
    rows, big_peak, queries = _export_peak(client)
    assert rows == 20_000
    # Ten times the rows, about the same memory: one chunk of 2,000 at a time, never the whole log.
    assert big_peak < small_peak * 1.5 + 512 * 1024, (small_peak, big_peak)
    # Chunks of 100, then 2,000 rows: bounded queries, never the whole table in one result.
    audit_reads = [sql for sql in queries if AuditLog._meta.db_table in sql]
    assert "LIMIT 100" in audit_reads[0] and len(audit_reads) == 11, audit_reads
    assert all("LIMIT 2000" in sql for sql in audit_reads[1:]), audit_reads
