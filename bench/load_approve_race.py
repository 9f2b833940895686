"""Issue #14's "one unexplained 500": many approvals at once while their owners poll.

Each round creates N pending users (default 10), sends their N approvals to the admin
API at the same instant (a barrier), while N client threads poll — each for its own
user — the workspace URL (`<user>--vscode.localhost` through nginx; with the edge cookie
once the workspace is active) `--poll-hz` times a second and the workspace status
endpoint (`GET /api/workspaces`, then `/api/workspaces/<id>`) `--status-hz` times a second.
When every workspace is active (or failed) the round deletes the users through the API
and waits until they are gone. `--burn K` adds K busy-looping processes: the scenario is a loaded machine.

The whole platform runs for real, as in bench_approve.py: MariaDB (a database of this
run's own, dropped at the end), Redis (`REDIS_URL`, a database of your own), gunicorn
serving Django behind nginx, a Celery worker (threads) on default/provisioning, a host
agent on dockerd with the stand-in image (`--eager`: no worker, the saga runs inside the
approve request as with `make run`). Every server log is kept in the directory
printed at the start and the end (gunicorn error + access logs, Django/loguru output,
worker, agent, nginx). Prints status codes per endpoint and round; any 5xx fails the
run (exit 1) and prints its request, answer and the server tracebacks.

    DATABASE_URL=mysql://mgmt:mgmt@127.0.0.1:3306/mgmt REDIS_URL=redis://127.0.0.1:6379/7 \\
        python bench/load_approve_race.py [--rounds 8] [--users 10] [--poll-hz 20] [--burn 2]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_approve import (  # noqa: E402
    bench_server,
    database_create,
    database_drop,
    spawn,
    stop,
    wait_ok,
    worker_command,
)

from tests.agent_process import free_port, start_agent  # noqa: E402

PASSWORD = "load-password-correct-horse-42"


class Tally:
    """Status codes per endpoint (thread-safe), and every 5xx with what it answered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.failures: list[str] = []

    def add(self, endpoint: str, answer: requests.Response | None, error: str = "") -> None:
        code = answer.status_code if answer is not None else "error"
        with self.lock:
            self.codes[endpoint][code] += 1
            if answer is not None and answer.status_code >= 500:
                self.failures.append(
                    f"{endpoint} {answer.request.method} {answer.url} -> {answer.status_code} "
                    f"(request id {answer.headers.get('X-Request-ID', '-')}): {answer.text[:500]}"
                )
            elif answer is None:
                self.failures.append(f"{endpoint}: {error}")

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.codes.values())

    def fives(self) -> int:
        return sum(n for c in self.codes.values() for code, n in c.items() if code == "error" or code >= 500)


def innodb_deadlocks() -> int:
    """The server's deadlock count (global: other clients of this MariaDB count too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
        return int(cursor.fetchone()[1])


def innodb_status() -> str:
    """SHOW ENGINE INNODB STATUS: the latest deadlock with both transactions' statements."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW ENGINE INNODB STATUS")
        return cursor.fetchone()[2]


def burn(stop_at: float) -> None:  # pragma: no cover - a CPU hog for the "loaded machine"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the run, which stops these
    x = 0
    while time.time() < stop_at:
        x = (x * 31 + 7) % 1000003


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--poll-hz", type=float, default=20)
    parser.add_argument("--status-hz", type=float, default=5, help="status endpoint polls a second")
    parser.add_argument("--burn", type=int, default=0, help="busy-looping processes (a loaded machine)")
    parser.add_argument("--image", default="mgmt-test/workspace:latest")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=16)
    parser.add_argument("--round-timeout", type=float, default=240)
    parser.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pollers follow the edge handshake at once, as a browser does (default); "
        "--no-browser: only once the workspace is active",
    )
    parser.add_argument(
        "--eager", action="store_true", help="no worker: the saga runs inside the approve request (make run)"
    )
    options = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "mysql://mgmt:mgmt@127.0.0.1:3306/mgmt")
    if not base_url.startswith("mysql://"):
        sys.exit("DATABASE_URL must point at MariaDB/MySQL (the run makes a database of its own there).")
    run_id = uuid.uuid4().hex[:8]
    db_name = f"load_{run_id}"
    work = Path(tempfile.mkdtemp(prefix=f"load-approve-{run_id}-"))
    work.chmod(0o755)
    dirs = {name: work / name for name in ("deploy", "template", "nginx", "log")}
    for path in dirs.values():
        path.mkdir()
        path.chmod(0o755)
    (dirs["template"] / "README.txt").write_text("load\n")
    log = dirs["log"]
    print(f"logs kept in {log}", flush=True)
    edge_port = free_port()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mgmt.settings",
        "DATABASE_URL": base_url.rsplit("/", 1)[0] + f"/{db_name}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7"),
        "CELERY_TASK_ALWAYS_EAGER": "true" if options.eager else "false",
        "CACHE_KEY_PREFIX": f"load-{run_id}",
        "PLATFORM_URL": f"http://localhost:{edge_port}",
        "STACK_ENV_FILE": "",
        "REGISTER_RATE_LIMIT": "",
        "LOG_LEVEL": "WARNING",
        "WORKSPACE_DEFAULT_IMAGE": options.image,
        "WORKSPACE_READY_TIMEOUT": "120",
    }
    os.environ.update(env)
    import django

    django.setup()
    database_create(db_name)
    processes: list[subprocess.Popen] = []
    burners: list[multiprocessing.Process] = []
    agent = None
    tally = Tally()
    rounds_done = 0
    deadlocks = {}
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        deadlocks["before"] = innodb_deadlocks()
        from containers.nginx import write_standalone_config
        from mgmt.celery import app as celery_app

        celery_app.control.purge()
        agent = start_agent(workspace_root=dirs["deploy"], workspace_template=dirs["template"], log_dir=log)
        app_port = free_port()
        conf = write_standalone_config(
            prefix=dirs["nginx"], listen=f"127.0.0.1:{edge_port}", backend=f"127.0.0.1:{app_port}"
        )
        processes.append(
            spawn(
                ["/usr/sbin/nginx", "-p", str(dirs["nginx"]), "-c", str(conf), "-g", "daemon off;"],
                log / "nginx.log",
                env,
            )
        )
        gunicorn = [sys.executable, "-m", "gunicorn", "mgmt.wsgi", "-b", f"127.0.0.1:{app_port}",
                    "-w", str(options.gunicorn_workers), "--threads", str(options.gunicorn_threads),
                    "--error-logfile", str(log / "gunicorn-error.log"),
                    "--access-logfile", str(log / "gunicorn-access.log"),
                    "--access-logformat", '%(t)s %(s)s %(m)s "%(U)s" %(M)sms pid=%(p)s',
                    "--capture-output"]  # fmt: skip
        processes.append(spawn(gunicorn, log / "django.log", env))
        if not options.eager:
            processes.append(spawn(worker_command(options.worker_concurrency), log / "worker.log", env))
        edge = f"http://127.0.0.1:{edge_port}"
        wait_ok(f"{edge}/api/health", timeout=60)

        from django.conf import settings

        from accounts.models import User
        from accounts.services import session_create
        from tests.edge_client import edge_handshake
        from tests.factories import UserFactory

        bench_server("load", agent)
        admin = UserFactory(username=f"loadadmin{run_id}", admin=True, password=PASSWORD)
        admin_auth = {"Authorization": f"Bearer {session_create(user=admin)[1]}"}

        if options.burn:
            stop_at = time.time() + 24 * 3600
            for _ in range(options.burn):
                process = multiprocessing.Process(target=burn, args=(stop_at,), daemon=True)
                process.start()
                burners.append(process)

        print(f"{'round':>5} {'requests':>9} {'5xx':>4}  wall   codes per endpoint", flush=True)
        for number in range(1, options.rounds + 1):
            before_total, before_fives = tally.total(), tally.fives()
            started = time.monotonic()
            users = [
                UserFactory(username=f"l{run_id}r{number}u{i}", pending=True, password=PASSWORD)
                for i in range(options.users)
            ]
            tokens = {
                u.pk: session_create(user=u)[1] for u in User.objects.filter(pk__in=[u.pk for u in users])
            }
            workspace_ids: dict[int, int] = {}
            settled: set[int] = set()
            done = threading.Event()
            barrier = threading.Barrier(options.users)

            cookies: dict[int, str] = {}

            def every(hz: float, work, done=done) -> None:
                while not done.is_set():
                    due = time.monotonic() + 1 / hz
                    try:
                        work()
                    except requests.RequestException as exc:
                        tally.add("poll", None, f"{type(exc).__name__}: {exc}")
                    except AssertionError as exc:
                        tally.add("handshake", None, f"handshake failed: {exc}")
                    time.sleep(max(0.0, due - time.monotonic()))

            def poll_url(user, tokens=tokens, cookies=cookies) -> None:
                """The workspace URL through nginx as a browser asks for it (keep-alive): without the
                edge cookie nginx sends it through the handshake, which it follows at once (platform
                cookie → ticket → callback → the host's cookie), whatever the workspace's state."""
                session = requests.Session()
                host = f"{user.username}--vscode.localhost:{edge_port}"
                html = {"Accept": "text/html"}

                def get(url_host: str, path: str, jar: dict, label: str) -> requests.Response:
                    answer = session.get(
                        f"{edge}{path}", headers={"Host": url_host, **html}, cookies=jar,
                        timeout=10, allow_redirects=False,
                    )  # fmt: skip
                    tally.add(label, answer)
                    return answer

                def work() -> None:
                    cookie = cookies.get(user.pk)
                    jar = {settings.EDGE_COOKIE_NAME: cookie} if cookie else {}
                    answer = get(host, "/", jar, "workspace URL" + (" (cookie)" if cookie else ""))
                    if not options.browser or answer.status_code != 302:
                        return
                    location = urlsplit(answer.headers.get("Location", ""))
                    if location.path != "/edge/authorize":
                        return
                    state = answer.cookies.get(settings.EDGE_STATE_COOKIE_NAME)
                    platform = {settings.SESSION_COOKIE_NAME_WORKSPACE: tokens[user.pk]}
                    path = f"{location.path}?{location.query}"
                    answer = get(location.netloc, path, platform, "edge authorize")
                    callback = urlsplit(answer.headers.get("Location", ""))
                    if answer.status_code != 302 or callback.path != "/_edge/callback":
                        return  # not yet approved: the platform asks to log in
                    path = f"{callback.path}?{callback.query}"
                    answer = get(
                        callback.netloc, path, {settings.EDGE_STATE_COOKIE_NAME: state}, "edge callback"
                    )
                    if settings.EDGE_COOKIE_NAME in answer.cookies:
                        cookies[user.pk] = answer.cookies[settings.EDGE_COOKIE_NAME]

                every(options.poll_hz, work)

            def poll_status(
                user, tokens=tokens, workspace_ids=workspace_ids, settled=settled, cookies=cookies
            ):
                """The owner's status endpoint; the edge handshake once the workspace is active."""
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {tokens[user.pk]}"
                host = f"{user.username}--vscode.localhost:{edge_port}"

                def work() -> None:
                    pk = workspace_ids.get(user.pk)
                    answer = session.get(
                        f"{edge}/api/workspaces/{pk}" if pk else f"{edge}/api/workspaces", timeout=10
                    )
                    tally.add("status " + ("detail" if pk else "list"), answer)
                    if pk and answer.status_code == 200:
                        status = answer.json()["data"]["status"]
                        if status in ("active", "failed"):
                            settled.add(user.pk)
                        if status == "active" and user.pk not in cookies and not options.browser:
                            cookies[user.pk] = edge_handshake(edge, host, tokens[user.pk])

                every(options.status_hz, work)

            def approve(user, workspace_ids=workspace_ids, barrier=barrier) -> None:
                barrier.wait()
                try:
                    answer = requests.post(
                        f"{edge}/api/admin/users/{user.pk}/approve", json={"memory": "256m", "cpu": 0.5},
                        headers=admin_auth, timeout=120,
                    )  # fmt: skip
                except requests.RequestException as exc:
                    tally.add("approve", None, f"{type(exc).__name__}: {exc}")
                    return
                tally.add("approve", answer)
                if answer.status_code == 202:
                    workspace_ids[user.pk] = answer.json()["data"]["id"]

            with ThreadPoolExecutor(max_workers=3 * options.users) as pool:
                pollers = [pool.submit(poll_url, user) for user in users]
                pollers += [pool.submit(poll_status, user) for user in users]
                time.sleep(0.5)  # the clients are polling before the approvals land
                approvals = [pool.submit(approve, user) for user in users]
                for future in approvals:
                    future.result()
                deadline = time.monotonic() + options.round_timeout
                while time.monotonic() < deadline and not all(
                    u.pk in settled or u.pk not in workspace_ids for u in users
                ):
                    time.sleep(0.2)
                time.sleep(1)  # a moment of polling the active workspaces with their cookies
                done.set()
                for future in pollers:
                    future.result()
            unsettled = [u.username for u in users if u.pk in workspace_ids and u.pk not in settled]
            if unsettled:
                tally.failures.append(f"round {number}: never active or failed: {unsettled}")

            # Delete the round's people (and workspaces) through the API; wait until they are gone.
            for user in users:
                answer = requests.delete(
                    f"{edge}/api/users/{user.pk}?delete_workspace=true", headers=admin_auth, timeout=60
                )
                tally.add("delete", answer)
            deadline = time.monotonic() + options.round_timeout
            while time.monotonic() < deadline and User.objects.filter(pk__in=[u.pk for u in users]).exists():
                time.sleep(0.5)
            rounds_done = number
            now = innodb_deadlocks()
            if now > deadlocks.setdefault("seen", deadlocks["before"]):
                # Kept at once: the server shows only its latest deadlock.
                with open(log / "innodb-deadlocks.txt", "a") as out:
                    out.write(f"=== round {number}: {now - deadlocks['seen']} new\n{innodb_status()}\n")
                deadlocks["seen"] = now
            codes = "; ".join(
                f"{endpoint}: {dict(sorted(counter.items(), key=str))}"
                for endpoint, counter in sorted(tally.codes.items())
            )
            print(
                f"{number:>5} {tally.total() - before_total:>9} {tally.fives() - before_fives:>4} "
                f"{time.monotonic() - started:>5.1f}s  (cumulative) {codes}",
                flush=True,
            )
    finally:
        deadlocks["after"] = innodb_deadlocks()
        (log / "innodb-status.txt").write_text(innodb_status())
        for process in burners:
            process.terminate()
        for process in reversed(processes):
            stop(process)
        if agent is not None:
            agent.stop()  # removes every container with the agent's unique label prefix
        database_drop(db_name)
        for name in ("deploy", "template", "nginx"):
            subprocess.run(["rm", "-rf", str(dirs[name])], check=False)

    access = (
        (log / "gunicorn-access.log").read_text(errors="replace")
        if (log / "gunicorn-access.log").exists()
        else ""
    )
    backend_5xx = [line for line in access.splitlines() if re.search(r"\] 5\d\d ", line)]
    tracebacks = []
    for name in ("django.log", "gunicorn-error.log", "worker.log"):
        path = log / name
        if path.exists():
            text = path.read_text(errors="replace")
            tracebacks += [
                f"--- {name} ---\n{block}"
                for block in re.findall(r"Traceback[^\n]*\n(?:[ \t][^\n]*\n)*[^\n]*", text)
            ]
    print(
        f"\n{rounds_done} rounds, {tally.total()} requests, {tally.fives()} 5xx/errors at the client, "
        f"{len(backend_5xx)} 5xx answered by Django (gunicorn access log)",
        flush=True,
    )
    print(
        f"InnoDB deadlocks during the run: {deadlocks.get('after', 0) - deadlocks.get('before', 0)} "
        "(server-wide; each round's latest is in innodb-deadlocks.txt)"
    )
    print(f"logs kept in {log}")
    if tally.failures or backend_5xx:
        print("\nFAILED:", *tally.failures[:20], *backend_5xx[:20], sep="\n")
        print("\nTracebacks in the server logs:", *tracebacks[:10], sep="\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
