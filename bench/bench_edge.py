"""The edge's cost: a workspace request through nginx with a valid edge cookie (cached auth
subrequest), against the same upstream proxied by the same nginx without auth.

Runs the real pieces: nginx with the platform's rendered configuration, gunicorn serving
Django on MariaDB (a database of its own, dropped at the end) and Redis, and as the
workspace app a second nginx answering a small static page (so the upstream is never the
bottleneck). Load comes from wrk on loopback, bounded in time. Prints, each as a ratio
against direct proxying measured in the same run:

- throughput at 16 connections (target: edge >= 1/3 of direct);
- p50 added latency at 1 connection, warm cache (target: <= 0.5 ms);
- backend calls per cookie per TTL (target: ≤ 1);
- backend calls caused by unauthenticated requests: no cookie, and a random well-formed
  cookie on every request (target: ≤ 100 per 10,000);
- a cold 70-request page load over 6 connections, fresh cookie each time (target <= 1.1x).

    DATABASE_URL=mysql://mgmt:mgmt@127.0.0.1:3306/mgmt REDIS_URL=redis://127.0.0.1:6379/5 \\
        python bench/bench_edge.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_approve import database_create, database_drop, spawn, stop, wait_ok  # noqa: E402

from tests.net import free_port  # noqa: E402

UPSTREAM_CONF = """worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type text/html; return 200 "<html><body>workspace app</body></html>"; }}
    }}
}}
"""
# The same nginx proxies this host straight to the upstream: the baseline, no auth at all.
DIRECT_SERVER = """
server {{
    listen 127.0.0.1:{port};
    server_name direct.bench;
    location / {{
        proxy_pass http://127.0.0.1:{upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_buffering off;
    }}
}}
"""
RANDOM_COOKIE_LUA = r"""
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
math.randomseed(os.time())
request = function()
    local t = {}
    for i = 1, 43 do local n = math.random(1, #chars); t[i] = chars:sub(n, n) end
    local s = {}
    for i = 1, 22 do local n = math.random(1, #chars); s[i] = chars:sub(n, n) end
    local cookie = "mgmt_edge=" .. table.concat(t) .. ".4102444800." .. table.concat(s)
    return wrk.format("GET", "/", {["Host"] = wrk.headers["Host"], ["Cookie"] = cookie})
end
"""


def wrk(url: str, *, connections: int, seconds: float, headers: dict[str, str], script: Path | None = None):
    """(requests/s, p50 ms, total requests) from one wrk run."""
    args = [
        "wrk",
        "-t",
        str(min(2, connections)),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
    ]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", str(script)]
    run = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30, check=True)
    out = run.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50_value, p50_unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()
    p50 = float(p50_value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50_unit]
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, p50, total, int(non_2xx.group(1)) if non_2xx else 0


def backend_calls(log: Path) -> int:
    return log.read_text().count("/edge/verify") if log.exists() else 0


def page_load(
    base: str, host: str, cookie: str | None, count: int = 70, parallel: int = 6
) -> tuple[float, float]:
    """A browser-like page load: the document, then the rest over `parallel` keep-alive connections."""
    sessions = [requests.Session() for _ in range(parallel)]
    headers = {"Host": host, **({"Cookie": f"mgmt_edge={cookie}"} if cookie else {})}

    def fetch(i: int) -> None:
        answer = sessions[i % parallel].get(f"{base}/asset/{i}", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.status_code

    started = time.perf_counter()
    fetch(0)
    document = time.perf_counter() - started
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(fetch, range(1, count)))
    elapsed = time.perf_counter() - started
    for session in sessions:
        session.close()
    return elapsed, document


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--page-loads", type=int, default=40)
    options = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "mysql://mgmt:mgmt@127.0.0.1:3306/mgmt")
    if not base_url.startswith("mysql://"):
        sys.exit("DATABASE_URL must point at MariaDB/MySQL (the bench makes a database of its own there).")
    run_id = uuid.uuid4().hex[:8]
    db_name = f"bench_{run_id}"
    work = Path(tempfile.mkdtemp(prefix=f"bench-edge-{run_id}-"))
    work.chmod(0o755)
    for sub in ("nginx", "upstream/tmp", "log"):
        (work / sub).mkdir(parents=True)
    edge_port, app_port, upstream_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mgmt.settings",
        "DATABASE_URL": base_url.rsplit("/", 1)[0] + f"/{db_name}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CACHE_KEY_PREFIX": f"bench-{run_id}",
        "PLATFORM_URL": f"http://localhost:{edge_port}",
        "LOG_LEVEL": "WARNING",
        "STACK_ENV_FILE": "",
        "DB_CONN_MAX_AGE": "60",  # as in production: a worker keeps its database connection
    }
    os.environ.update(env)
    import django

    django.setup()
    database_create(db_name)
    processes: list[subprocess.Popen] = []
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.conf import settings
        from django.utils import timezone

        from accounts.services import session_create
        from accounts.tokens import token_new
        from containers import edge, nginx
        from containers.models import EdgeSession, Workspace, WorkspaceStatus
        from tests.factories import UserFactory

        nginx_bin = "/usr/sbin/nginx"
        upstream_conf = work / "upstream" / "nginx.conf"
        upstream_conf.write_text(UPSTREAM_CONF.format(prefix=work / "upstream", port=upstream_port))
        conf = nginx.write_standalone_config(
            prefix=work / "nginx", listen=f"127.0.0.1:{edge_port}", backend=f"127.0.0.1:{app_port}"
        )
        platform_conf = work / "nginx" / "platform.conf"
        platform_conf.write_text(
            platform_conf.read_text() + DIRECT_SERVER.format(port=edge_port, upstream=upstream_port)
        )
        # The access log of nginx itself stays off: it would cost both sides alike.
        access_log = f"access_log {work / 'nginx'}/access.log;"
        conf.write_text(conf.read_text().replace(access_log, "access_log off;"))
        upstream_args = [
            nginx_bin,
            "-p",
            str(work / "upstream"),
            "-c",
            str(upstream_conf),
            "-g",
            "daemon off;",
        ]
        for args, name in (
            (upstream_args, "upstream"),
            ([nginx_bin, "-p", str(work / "nginx"), "-c", str(conf), "-g", "daemon off;"], "edge"),
            (
                # Threads keep nginx's upstream connections alive (sync workers close each one).
                [sys.executable, "-m", "gunicorn", "mgmt.wsgi", "-b", f"127.0.0.1:{app_port}", "-w", "2",
                 "-k", "gthread", "--threads", "4",
                 "--access-logfile", str(work / "log" / "backend-access.log")],
                "gunicorn",
            ),
        ):  # fmt: skip
            processes.append(spawn(args, work / "log" / f"{name}.log", env))
        wait_ok(f"http://127.0.0.1:{edge_port}/api/health", timeout=60)
        backend_log = work / "log" / "backend-access.log"

        person = UserFactory(username=f"bench{run_id}")
        workspace = Workspace.objects.create(owner=person, image="x", status=WorkspaceStatus.ACTIVE)
        upstream = nginx.Upstream("127.0.0.1", upstream_port)
        nginx.add_user_route(username=person.username, vscode=upstream, jupyter=upstream)
        session, _ = session_create(user=person)
        host = edge.workspace_host(person.username, "vscode")
        http_host = f"{host}:{edge_port}"

        def new_cookie() -> str:
            token, digest = token_new()
            expires = timezone.now() + timedelta(hours=1)
            EdgeSession.objects.create(
                token_hash=digest, host=host, user=person, session=session, workspace=workspace,
                expires_at=expires,
            )  # fmt: skip
            return edge.cookie_value(token, int(expires.timestamp()), host)

        base = f"http://127.0.0.1:{edge_port}"
        cookie = new_cookie()
        ok = requests.get(base, headers={"Host": http_host, "Cookie": f"mgmt_edge={cookie}"}, timeout=5)
        assert ok.status_code == 200 and "workspace app" in ok.text, ok.status_code
        direct_headers = {"Host": f"direct.bench:{edge_port}"}
        edge_headers = {"Host": http_host, "Cookie": f"mgmt_edge={cookie}"}
        seconds = options.seconds

        # Warm both paths, then measure each twice, alternating, keeping the better run.
        wrk(base, connections=16, seconds=1, headers=direct_headers)
        wrk(base, connections=16, seconds=1, headers=edge_headers)
        direct_rate = edge_rate = 0.0
        direct_p50 = edge_p50 = float("inf")
        calls_before = backend_calls(backend_log)
        cached_started = time.monotonic()
        for _ in range(2):
            rate = wrk(base, connections=16, seconds=seconds, headers=direct_headers)[0]
            direct_rate = max(direct_rate, rate)
            rate, _, _, errors = wrk(base, connections=16, seconds=seconds, headers=edge_headers)
            assert errors == 0, f"{errors} edge requests were not 2xx"
            edge_rate = max(edge_rate, rate)
            direct_p50 = min(direct_p50, wrk(base, connections=1, seconds=seconds, headers=direct_headers)[1])
            edge_p50 = min(edge_p50, wrk(base, connections=1, seconds=seconds, headers=edge_headers)[1])
        ttl = settings.EDGE_AUTH_CACHE_SECONDS
        cached_seconds = time.monotonic() - cached_started
        elapsed_ttl_windows = max(1.0, cached_seconds / ttl)
        cached_calls = backend_calls(backend_log) - calls_before

        print(f"{'measure':<44} {'direct':>12} {'edge':>12} {'ratio':>8}  target")
        print(f"{'throughput, 16 connections (req/s)':<44} {direct_rate:>12.0f} {edge_rate:>12.0f} "
              f"{edge_rate / direct_rate:>7.2f}x  >= 0.33x")  # fmt: skip
        print(f"{'p50 latency, 1 connection (ms)':<44} {direct_p50:>12.3f} {edge_p50:>12.3f} "
              f"{edge_p50 / direct_p50:>7.2f}x  added {edge_p50 - direct_p50:.3f} ms <= 0.5 ms")  # fmt: skip
        print(f"{'backend calls, one cookie, per TTL window':<44} {'':>12} "
              f"{cached_calls / elapsed_ttl_windows:>12.2f} {'':>8}  <= 1 "
              f"({cached_calls} calls in {cached_seconds:.0f} s, TTL {ttl} s)")  # fmt: skip

        # Unauthenticated floods.
        script = work / "random-cookie.lua"
        script.write_text(RANDOM_COOKIE_LUA)
        for label, headers, lua in (
            ("no cookie", {"Host": http_host}, None),
            ("random well-formed cookie", {"Host": http_host}, script),
        ):
            before = backend_calls(backend_log)
            _, _, total, _ = wrk(base, connections=16, seconds=2, headers=headers, script=lua)
            calls = backend_calls(backend_log) - before
            print(f"{'unauthenticated, ' + label:<44} {total:>12} {calls:>12} {'':>8}  "
                  f"{calls * 10000 / max(total, 1):.1f} backend calls per 10,000 (<= 100)")  # fmt: skip

        # What one backend answer costs (gunicorn directly, keep-alive), for the cold page load below.
        with requests.Session() as backend:
            timings = []
            for _ in range(200):
                started = time.perf_counter()
                answer = backend.get(
                    f"http://127.0.0.1:{app_port}/edge/verify",
                    headers={"Host": http_host, "X-Edge-Token": cookie},
                    timeout=5,
                )
                timings.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.status_code
        print(
            f"{'one backend verify, direct to gunicorn (ms)':<44} {'':>12} "
            f"{statistics.median(timings):>12.2f}"
        )

        # Cold page loads: a fresh cookie each time, against the direct path.
        direct_loads, edge_loads, edge_calls, documents = [], [], [], []
        for _ in range(options.page_loads):
            direct_loads.append(page_load(base, f"direct.bench:{edge_port}", None)[0])
            fresh = new_cookie()
            before = backend_calls(backend_log)
            total, document = page_load(base, http_host, fresh)
            edge_loads.append(total)
            documents.append(document * 1000)
            edge_calls.append(backend_calls(backend_log) - before)
        dm, em = statistics.median(direct_loads), statistics.median(edge_loads)
        print(
            f"{'  of which the first (uncached) request (ms)':<44} {'':>12} "
            f"{statistics.median(documents):>12.1f}"
        )
        calls_per_load = statistics.median(edge_calls)
        print(f"{'cold 70-request page load, 6 conns (ms)':<44} {dm * 1000:>12.1f} {em * 1000:>12.1f} "
              f"{em / dm:>7.2f}x  <= 1.1x; backend calls per load {calls_per_load:.0f}")  # fmt: skip
    finally:
        for process in reversed(processes):
            stop(process)
        database_drop(db_name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
