"""10,000 people: the list pages and the edge's verify at full size, against 10 people.

Two databases of this run's own on the MariaDB of DATABASE_URL, both migrated by the script:

- small: 10 people (one of them the admin), 10 servers, 9 workspaces, 300 audit rows over its
  last week (every list, the filtered audit log too, fills its page of 10 rows, as at full size);
- big: 10,000 people, 100 servers, 2,000 workspaces (routes and edge sessions included),
  10,000 sessions (bulk_create) and 1,000,000 audit rows over a year (INSERT … SELECT from
  MariaDB's sequence engine, 100,000 rows a statement: about 45 s).

Every request goes through Django's test Client in this process (the whole middleware
stack, the real MariaDB and Redis; no gunicorn, so the figures are the backend's own), as
the admin: the API with a Bearer session token, the admin site with a logged-in session.
The two cases are timed in alternating rounds (a busy moment of a shared machine falls on
both), with the same page of 10 rows (the small case fills it too); the big case is timed
again with the default pages (50 in the API, 100 in the admin). Per endpoint it prints
p50 / p95 in the small and the big case, the ratio of the p95s
(target: <= 2x) and the queries of one request in each case (the same count: no N+1).
The server list's live stats come from the cache, as the stats poll keeps it. The CSV export
is timed to its first 30 rows; then one whole export of the big audit log is streamed
while the process's resident memory is sampled (target: it does not grow with the rows).

    DATABASE_URL=mysql://root@127.0.0.1:3306/benchscale REDIS_URL=redis://127.0.0.1:6379/11 \\
        python bench/bench_scale.py [--requests 30] [--audit-rows 1000000] [--keep]

`--keep` leaves both databases in place and a later run with `--keep` reuses their rows
(migrating them first), which saves the load while tuning.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACTIONS = (
    "user.login", "user.logout", "user.register", "user.approve", "user.update",
    "workspace.start", "workspace.stop", "workspace.provision", "server.drain", "image.pull",
)  # fmt: skip
LEVELS = ("info",) * 16 + ("warning",) * 3 + ("error",)
SOURCES = ("api", "admin", "worker", "reconciler", "system", "command")
AUDIT_COLUMNS = (
    "username", "actor_id", "action_type", "details", "ip_address", "request_id", "server_id",
    "log_level", "source", "target_type", "target_id", "target_repr", "created_at",
)  # fmt: skip
PAGE = 10  # rows per list page in both cases
SIZES = {
    # Every list, the filtered audit log included, fills its page of PAGE rows, as at full size: the
    # ratio is then the cost of the data's size, not of 10 rows against 1 or against none. So the
    # small site's 300 audit rows are its last week (the filter asks for a week of warnings).
    "small": {"users": 10, "servers": 10, "workspaces": 9, "audit": 300, "audit_days": 7},
    "big": {"users": 10_000, "servers": 100, "workspaces": 2_000, "audit": 1_000_000, "audit_days": 365},
}


def use_database(name: str, *, create: bool) -> bool:
    """Point Django's connection at `name`; True when it had to be created."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = ""
    with connection.cursor() as cursor:
        cursor.execute("SHOW DATABASES LIKE %s", [name])
        exists = cursor.fetchone() is not None
        if not exists and create:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    connection.close()
    connection.settings_dict["NAME"] = name
    return not exists


def drop_database(name: str) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = ""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    connection.close()


def load(size: dict[str, int]) -> None:
    """The people, servers, workspaces (routes, sessions, edge sessions) and audit rows."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User, UserSession, UserStatus
    from accounts.tokens import token_new
    from containers import edge
    from containers.models import EdgeSession, Route, Workspace, WorkspaceStatus
    from servers.models import Server, ServerStatus

    now = timezone.now()
    password = make_password("bench-password-correct-horse-42")
    started = time.monotonic()
    with transaction.atomic():
        people = User.objects.bulk_create(
            [
                User(
                    username=f"person{i}",
                    email=f"person{i}@example.com",
                    password=password,
                    is_approved=True,
                    status=UserStatus.ACTIVE,
                    created_at=now - timedelta(minutes=size["users"] - i),
                )
                for i in range(size["users"] - 1)  # the admin is the last one
            ],
            batch_size=2000,
        )
        servers = Server.objects.bulk_create(
            [
                Server(
                    name=f"host{i}",
                    address=f"10.0.{i // 250}.{i % 250 + 1}",
                    agent_secret="s" * 32,
                    status=ServerStatus.ONLINE,
                    cpu_count=64,
                    memory_total=512 * 1024**3,
                )
                for i in range(size["servers"])
            ]
        )
        workspaces = Workspace.objects.bulk_create(
            [
                Workspace(
                    owner=people[i],
                    server=servers[i % len(servers)],
                    image="mgmt/workspace:latest",
                    status=WorkspaceStatus.ACTIVE,
                    container_name=f"ws-{people[i].username}",
                    vscode_port=20000 + i,
                    jupyter_port=40000 + i,
                    upstream_host=servers[i % len(servers)].address,
                    created_at=now - timedelta(minutes=i),
                )
                for i in range(size["workspaces"])
            ],
            batch_size=2000,
        )
        Route.objects.bulk_create(
            [
                Route(
                    username=w.owner.username,
                    workspace=w,
                    vscode_host=w.upstream_host,
                    vscode_port=w.vscode_port,
                    jupyter_host=w.upstream_host,
                    jupyter_port=w.jupyter_port,
                )
                for w in workspaces
            ],
            batch_size=2000,
        )
        sessions = UserSession.objects.bulk_create(
            [
                UserSession(user=p, token_hash=token_new()[1], expires_at=now + timedelta(days=1))
                for p in people
            ],
            batch_size=2000,
        )
        EdgeSession.objects.bulk_create(
            [
                EdgeSession(
                    token_hash=token_new()[1],
                    host=edge.workspace_host(w.owner.username, app),
                    user=w.owner,
                    session=sessions[i],
                    workspace=w,
                    expires_at=now + timedelta(hours=1),
                )
                for i, w in enumerate(workspaces)
                for app in ("vscode", "jupyter")
            ],
            batch_size=2000,
        )
    print(f"  loaded {len(people) + 1} people, {len(servers)} servers, {len(workspaces)} workspaces "
          f"in {time.monotonic() - started:.1f} s")  # fmt: skip

    started = time.monotonic()
    audit_load(size["audit"], people=len(people), days=size["audit_days"])
    print(f"  loaded {size['audit']:,} audit rows in {time.monotonic() - started:.1f} s")
    # A live database's index statistics follow its rows; right after a bulk load InnoDB's are
    # still those of the empty tables until its background recount, and the planner misjudges
    # (the audit admin's action filter took 76 ms instead of 0.6 ms).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE TABLE accounts_user, accounts_usersession, servers_server, "
            "containers_workspace, containers_route, containers_edgesession, audit_auditlog"
        )
        cursor.fetchall()


def audit_load(count: int, *, people: int, days: int, batch: int = 100_000) -> None:
    """`count` audit rows over the last year, made by MariaDB itself (its SEQUENCE engine's
    `seq_1_to_N` tables): one INSERT … SELECT per `batch` rows, nothing through Python."""
    from django.db import connection
    from django.utils import timezone

    from audit.models import AuditLog

    table = AuditLog._meta.db_table

    def pick(options: tuple[str, ...]) -> str:
        quoted = ", ".join(f"'{option}'" for option in options)
        return f"ELT(1 + FLOOR(RAND() * {len(options)}), {quoted})"

    now = timezone.now().replace(tzinfo=None)
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        for first in range(0, count, batch):
            rows = min(batch, count - first)
            cursor.execute(
                f"""INSERT INTO `{table}` ({", ".join(AUDIT_COLUMNS)})
                SELECT u.username, u.id, s.action, JSON_OBJECT('n', s.seq),
                       CONCAT('10.1.', s.seq MOD 256, '.', FLOOR(RAND() * 256)), LEFT(MD5(s.seq), 16), '',
                       s.level, s.source, SUBSTRING_INDEX(s.action, '.', 1), u.id, u.username,
                       %s - INTERVAL FLOOR(RAND() * {days * 86400}) SECOND
                FROM (SELECT seq, {pick(ACTIONS)} AS action, {pick(LEVELS)} AS level,
                             {pick(SOURCES)} AS source,
                             CONCAT('person', (seq * 7919 + {first}) MOD {people}) AS who
                      FROM seq_1_to_{rows}) s
                JOIN accounts_user u ON u.username = s.who""",
                [now],
            )  # fmt: skip
        cursor.execute("SET SESSION unique_checks = 1, foreign_key_checks = 1")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def prepare(page: int | None) -> dict:
    """The requests to time on the current database, by name: the admin, its token and session,
    an edge cookie, the servers' cached stats.

    `page`: rows per page of every list (the API's `page_size`, the admin's `list_per_page`);
    None for their defaults (50 and 100).
    """
    from dataclasses import asdict

    from django.core.cache import cache
    from django.test import Client
    from django.utils import timezone

    from accounts.models import User, UserType
    from accounts.roles import user_role_sync
    from accounts.services import session_create
    from containers.models import Workspace
    from servers.models import Server
    from servers.selectors import StatsResult, stats_cache_key
    from tests.edge_client import edge_cookie_made

    admin = User.objects.filter(username="benchadmin").first()
    if admin is None:
        admin = User.objects.create_user(
            "benchadmin@example.com", "benchadmin", "bench-password-correct-horse-42",
            user_type=UserType.ADMIN, is_superuser=True, is_approved=True, status="active",
        )  # fmt: skip
        user_role_sync(user=admin)
    _, token = session_create(user=admin)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    site = Client()
    site.force_login(admin)
    # The stats poll keeps every server's answer in the cache; the list reads it from there.
    stats = StatsResult(True, True, timezone.now().isoformat(), stats={"cpu_percent": 3.0})
    cache.set_many(
        {stats_cache_key(pk): asdict(stats) for pk in Server.objects.values_list("pk", flat=True)}, 3600
    )
    workspace = Workspace.objects.select_related("owner").order_by("pk").first()
    host, cookie = edge_cookie_made(user=workspace.owner, workspace=workspace)
    since = (timezone.now() - timedelta(days=7)).isoformat()
    filters = urlencode({"action": "user.", "level": "warning", "since": since})
    size = f"page_size={page}&" if page else ""

    def csv_head(path: str, lines: int = 31):
        def run():
            answer = api.get(path)
            assert answer.status_code == 200 and answer.streaming, answer.status_code
            seen = 0
            for chunk in answer.streaming_content:
                seen += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
                if seen >= lines:
                    break
            answer.close()
            return answer

        return run

    def get(client: Client, path: str, **extra):
        def run():
            answer = client.get(path, **extra)
            assert answer.status_code == 200, (path, answer.status_code, answer.content[:300])
            return answer

        return run

    endpoints = {
        "GET /api/admin/users": get(api, f"/api/admin/users?{size}"),
        "GET /api/workspaces": get(api, f"/api/workspaces?{size}"),
        "GET /api/servers": get(api, f"/api/servers?{size}"),
        "GET /api/admin/audit-logs": get(api, f"/api/admin/audit-logs?{size}"),
        "GET /api/admin/audit-logs?action&level&since": get(api, f"/api/admin/audit-logs?{size}{filters}"),
        # Both cases stream the header and the first 30 rows (fewer where the filter matches fewer).
        "GET /api/admin/audit-logs/export (first 30 rows)": csv_head("/api/admin/audit-logs/export"),
        "GET /api/admin/audit-logs/export?filters (first 30)": csv_head(
            f"/api/admin/audit-logs/export?{filters}"
        ),
        "admin /admin/accounts/user/": get(site, "/admin/accounts/user/"),
        "admin /admin/containers/workspace/": get(site, "/admin/containers/workspace/"),
        "admin /admin/servers/server/": get(site, "/admin/servers/server/"),
        "admin /admin/audit/auditlog/": get(site, "/admin/audit/auditlog/"),
        "admin /admin/audit/auditlog/?log_level=warning": get(
            site, "/admin/audit/auditlog/?log_level__exact=warning"
        ),
        "GET /edge/verify (backend)": get(site, "/edge/verify", HTTP_HOST=host, HTTP_X_EDGE_TOKEN=cookie),
    }
    return endpoints


def set_page(page: int | None) -> None:
    from django.contrib import admin as django_admin

    for model_admin in django_admin.site._registry.values():
        model_admin.list_per_page = page or 100


def time_round(endpoints: dict, requests: int, timings: dict[str, list[float]]) -> dict[str, int]:
    """`requests` timed requests per endpoint (after one to warm), added to `timings`; the queries
    of the warming request, per endpoint."""
    from django.db import connection

    queries = {}
    for name, run in endpoints.items():
        seen: list[str] = []
        with connection.execute_wrapper(partial(count_query, seen)):
            run()
        queries[name] = len(seen)
        for _ in range(requests):
            started = time.perf_counter()
            run()
            timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
    return queries


def summary(timings: dict[str, list[float]], queries: dict[str, int]) -> dict[str, dict[str, float]]:
    return {
        name: {"p50": statistics.median(t), "p95": percentile(t, 0.95), "queries": queries[name]}
        for name, t in timings.items()
    }


def count_query(seen: list[str], execute, sql, params, many, context):
    seen.append(sql)
    return execute(sql, params, many, context)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def export_memory() -> tuple[int, float, int, int]:
    """(rows, seconds, RSS growth after 20,000 rows, RSS growth at the end) of one whole export."""
    from django.db.models import Max
    from django.test import Client

    from accounts.models import User

    admin = User.objects.get(username="benchadmin")
    client = Client()
    client.force_login(admin)
    User.objects.aggregate(Max("pk"))  # the connection is open before the baseline
    started = time.monotonic()
    answer = client.get("/api/admin/audit-logs/export")
    assert answer.status_code == 200 and answer.streaming
    baseline = early = rss_kib()
    rows = 0
    for chunk in answer.streaming_content:
        rows += chunk.count(b"\n")
        if rows and rows % 20_000 < 2 and early == baseline:
            early = rss_kib()
    answer.close()
    return rows - 1, time.monotonic() - started, early - baseline, rss_kib() - baseline


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint and case")
    parser.add_argument("--audit-rows", type=int, default=SIZES["big"]["audit"])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of small and big")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the two databases")
    parser.add_argument("--no-export-memory", action="store_true", help="skip the whole-export memory run")
    parser.add_argument(
        "--no-default-page", action="store_true", help="skip the big case's run with the default page sizes"
    )
    options = parser.parse_args()
    SIZES["big"]["audit"] = options.audit_rows

    base_url = os.environ.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/benchscale")
    if not base_url.startswith("mysql://"):
        sys.exit("DATABASE_URL must point at MariaDB/MySQL (the bench makes databases of its own there).")
    base_name = base_url.rsplit("/", 1)[1] or "benchscale"
    run_id = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mgmt.settings",
            "DATABASE_URL": base_url,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11"),
            "CACHE_KEY_PREFIX": f"bench-scale-{run_id}",
            "LOG_LEVEL": "WARNING",
            "STACK_ENV_FILE": "",
            "DB_CONN_MAX_AGE": "60",  # as in production: the process keeps its connection
        }
    )
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    names = {case: f"{base_name}_{case}" for case in SIZES}
    results = {}
    try:
        endpoints = {}
        set_page(PAGE)
        for case, size in SIZES.items():
            print(f"{case}: {size['users']:,} people, {size['servers']} servers, "
                  f"{size['workspaces']:,} workspaces, {size['audit']:,} audit rows", flush=True)  # fmt: skip
            created = use_database(names[case], create=True)
            call_command("migrate", verbosity=0)
            if created or not options.keep:
                load(size)
            endpoints[case] = prepare(PAGE)
        # Rounds alternate between the cases, so that a busy moment of the machine falls on both.
        timings: dict[str, dict[str, list[float]]] = {case: {} for case in SIZES}
        queries = {}
        rounds = max(1, min(options.rounds, options.requests))
        for number in range(rounds):
            for case in SIZES:
                use_database(names[case], create=False)
                queries[case] = time_round(endpoints[case], options.requests // rounds, timings[case])
            print(f"  round {number + 1}/{rounds} done", flush=True)
        for case in SIZES:
            results[case] = summary(timings[case], queries[case])
        if not options.no_default_page:
            set_page(None)
            default_timings: dict[str, list[float]] = {}
            default_queries = time_round(prepare(None), options.requests, default_timings)
            results["big-default"] = summary(default_timings, default_queries)
        if not options.no_export_memory:
            rows, seconds, early, growth = export_memory()
            results["export"] = (rows, seconds, early, growth)
        print()
        print(
            f"pages of {PAGE} rows in both cases (ms; queries of one request, small/big); the last two"
            " columns: the big case with the default pages (API 50, admin 100 rows)"
        )
        print(f"{'endpoint':<50} {'small p50':>9} {'p95':>6} {'big p50':>8} {'p95':>6} {'ratio':>6}"
              f" {'queries':>7}  {'target':<7} {'p50':>6} {'p95':>6}")  # fmt: skip
        for name, small in results["small"].items():
            big = results["big"][name]
            ratio = big["p95"] / small["p95"]
            verdict = "ok" if ratio <= 2 and big["queries"] == small["queries"] else "MISSES"
            default = results.get("big-default", {}).get(name, {"p50": float("nan"), "p95": float("nan")})
            print(f"{name:<50} {small['p50']:>9.1f} {small['p95']:>6.1f} {big['p50']:>8.1f}"
                  f" {big['p95']:>6.1f} {ratio:>5.2f}x {small['queries']:>3}/{big['queries']:<3}"
                  f"  {verdict:<7}"
                  f" {default['p50']:>6.1f} {default['p95']:>6.1f}")  # fmt: skip
        if "export" in results:
            rows, seconds, early, growth = results["export"]
            print(f"whole CSV export: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s);"
                  f" resident memory +{early / 1024:.1f} MiB after 20,000 rows,"
                  f" +{growth / 1024:.1f} MiB at the end")  # fmt: skip
    finally:
        cache.delete_pattern("*") if hasattr(cache, "delete_pattern") else None
        if not options.keep:
            for name in names.values():
                drop_database(name)


if __name__ == "__main__":
    main()
