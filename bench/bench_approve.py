"""Approval → workspace reachable, against the floor of plain `docker run`.

For each N (default 1, 10, 30) N pending users are approved at once through the
HTTP API (behind a real nginx); the clock runs from the approval call until every
`<username>--vscode.localhost` and `--jupyter.localhost` answer 200 through nginx
with the owner's edge cookies, the way a person gets there: the owner follows the
workspace's event stream (as the "my workspace" page does) until it is done, then
opens both apps through the edge (handshake, then the app). The whole platform runs for
real: MariaDB, Redis, a Celery worker consuming default/provisioning, gunicorn serving
Django, a host agent, nginx. In the
same run the floor is measured: N concurrent `docker run` of the same image, with the
options the agent gives a workspace (uid 1000, 1 CPU, 2 GiB, restart policy, a mounted
folder), until both its ports (8080, 8888) answer. Prints per-user latency (median, max),
the batch wall time, and the approval/floor ratios. Everything is created with
unique names in a database of its own, and removed at the end.

    DATABASE_URL=mysql://mgmt:mgmt@127.0.0.1:3306/mgmt REDIS_URL=redis://127.0.0.1:6379/5 \
        python bench/bench_approve.py [--counts 1,10,30] [--image mgmt-test/workspace:latest]
        python bench/bench_approve.py --counts 30 --image mgmt/workspace:latest \\
            --cpu 1 --memory 2g --timeout 900
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_agent_create import remove, via_docker_run  # noqa: E402

from tests.agent_process import free_port, managed_container_names, start_agent  # noqa: E402

PASSWORD = "bench-password-correct-horse-42"


def wait_ok(url: str, cookies: dict | None = None, timeout: float = 120, host: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Host": host} if host else {}
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url, cookies=cookies, headers=headers, timeout=2, allow_redirects=False)
            # The app itself answered: a page, or its own redirect (code-server's to ?folder=,
            # Jupyter's to /lab), not the edge's to the handshake.
            if answer.status_code == 200 or (
                answer.is_redirect and "/edge/authorize" not in answer.headers.get("Location", "")
            ):
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} never answered")


def wait_done(edge: str, workspace_id: int, token: str, timeout: float) -> None:
    """Follow the workspace's event stream as its owner's page does (an EventSource: it reconnects
    after each stream's end with Last-Event-ID) until provisioning is done; raise if it failed."""
    from django.conf import settings

    deadline, last = time.monotonic() + timeout, "0"
    cookies = {settings.SESSION_COOKIE_NAME_WORKSPACE: token}
    while time.monotonic() < deadline:
        with requests.get(
            f"{edge}/events/workspace/{workspace_id}", cookies=cookies, headers={"Last-Event-ID": last},
            stream=True, timeout=(5, 60),
        ) as stream:  # fmt: skip
            event = ""
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    last = line[4:]
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event in ("done", "failed"):
                    if event == "failed":
                        raise AssertionError(f"workspace {workspace_id} failed: {line[6:]}")
                    return
        time.sleep(1)  # EventSource's retry
    raise TimeoutError(f"workspace {workspace_id} was not done in {timeout} s")


def database_create(db_name: str) -> None:
    """A database of this run's own on the MariaDB of DATABASE_URL; Django's connection uses it."""
    from django.db import connection

    connection.settings_dict["NAME"] = ""  # the database does not exist yet
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    connection.close()
    connection.settings_dict["NAME"] = db_name


def database_drop(db_name: str) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = ""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{db_name}`")


def worker_command(concurrency: int) -> list[str]:
    """A Celery worker for the queues an approval uses, threads (the saga waits on I/O)."""
    return [sys.executable, "-m", "celery", "-A", "mgmt", "worker", "-Q", "default,provisioning",
            "-P", "threads", "-c", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip


def bench_server(name: str, agent) -> None:
    """The agent as an online server with room for every workspace the bench makes."""
    from servers.models import Server, ServerStatus

    Server.objects.create(
        name=name, address="127.0.0.1", agent_port=agent.port, agent_secret=agent.secret,
        status=ServerStatus.ONLINE, memory_total=1024 * 1024**3, cpu_count=64,
    )  # fmt: skip


def spawn(args: list[str], log: Path, env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="1,10,30")
    parser.add_argument("--image", default="mgmt-test/workspace:latest")
    parser.add_argument("--worker-concurrency", type=int, default=16)
    parser.add_argument("--cpu", default="0.5", help="CPUs of each workspace (both sides)")
    parser.add_argument(
        "--memory", default="256m", help="memory of each workspace (both sides); 2g for the real image"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds each workspace (either side) may take to answer"
    )
    options = parser.parse_args()
    counts = [int(n) for n in options.counts.split(",")]
    # A TERM (timeout, kill) still runs the clean-up below: no orphaned worker of this run may go
    # on consuming the next run's queues.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    base_url = os.environ.get("DATABASE_URL", "mysql://mgmt:mgmt@127.0.0.1:3306/mgmt")
    if not base_url.startswith("mysql://"):
        sys.exit("DATABASE_URL must point at MariaDB/MySQL (the bench makes a database of its own there).")
    run_id = uuid.uuid4().hex[:8]
    db_name = f"bench_{run_id}"
    work = Path(tempfile.mkdtemp(prefix=f"bench-approve-{run_id}-"))
    work.chmod(0o755)
    dirs = {name: work / name for name in ("deploy", "template", "nginx", "log")}
    edge_port = free_port()
    for path in dirs.values():
        path.mkdir()
        path.chmod(0o755)
    (dirs["template"] / "README.txt").write_text("bench\n")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mgmt.settings",
        "DATABASE_URL": base_url.rsplit("/", 1)[0] + f"/{db_name}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CACHE_KEY_PREFIX": f"bench-{run_id}",
        "PLATFORM_URL": f"http://localhost:{edge_port}",
        "STACK_ENV_FILE": "",
        "REGISTER_RATE_LIMIT": "",
        "LOG_LEVEL": "WARNING",
        "WORKSPACE_DEFAULT_IMAGE": options.image,
        "WORKSPACE_READY_TIMEOUT": str(int(options.timeout)),
    }

    def floor_options(name: str) -> tuple[str, ...]:
        """The container the agent makes, by hand: its user, limits, restart policy and folder."""
        folder = dirs["deploy"] / name
        folder.mkdir()
        os.chown(folder, 1000, 1000)
        return (
            "--user", "1000:1000", "--cpus", options.cpu, "--memory", options.memory, "--pids-limit", "4096",
            "--restart", "unless-stopped", "-v", f"{folder}:/workspace",
        )  # fmt: skip

    os.environ.update(env)
    import django

    django.setup()
    database_create(db_name)
    processes: list[subprocess.Popen] = []
    agent = None
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from containers.nginx import write_standalone_config
        from mgmt.celery import app as celery_app

        celery_app.control.purge()
        agent = start_agent(
            workspace_root=dirs["deploy"], workspace_template=dirs["template"], log_dir=dirs["log"]
        )
        app_port = free_port()
        conf = write_standalone_config(
            prefix=dirs["nginx"], listen=f"127.0.0.1:{edge_port}", backend=f"127.0.0.1:{app_port}"
        )
        nginx_bin = "/usr/sbin/nginx"
        processes.append(
            spawn(
                [nginx_bin, "-p", str(dirs["nginx"]), "-c", str(conf), "-g", "daemon off;"],
                dirs["log"] / "nginx.log",
                env,
            )
        )
        processes.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "mgmt.wsgi",
                    "-b",
                    f"127.0.0.1:{app_port}",
                    "-w",
                    "4",
                    "--threads",
                    "8",
                ],
                dirs["log"] / "gunicorn.log",
                env,
            )
        )
        processes.append(spawn(worker_command(options.worker_concurrency), dirs["log"] / "worker.log", env))
        edge = f"http://127.0.0.1:{edge_port}"
        wait_ok(f"{edge}/api/health", timeout=60)

        from django.conf import settings

        from accounts.models import User
        from accounts.services import session_create
        from containers.models import Workspace
        from tests.edge_client import edge_handshake
        from tests.factories import UserFactory

        bench_server("bench", agent)
        admin = UserFactory(username=f"benchadmin{run_id}", admin=True, password=PASSWORD)
        admin_token = session_create(user=admin)[1]

        left = f"{'N':>4} {'approve median':>15} {'max':>8} {'wall':>8}"
        right = f"{'docker run median':>18} {'max':>8} {'wall':>8}"
        print(f"{left} | {right} | ratio median  wall")
        for count in counts:
            users = [
                UserFactory(username=f"b{run_id}n{count}x{i}", pending=True, password=PASSWORD)
                for i in range(count)
            ]
            tokens = {
                u.pk: session_create(user=u)[1] for u in User.objects.filter(pk__in=[u.pk for u in users])
            }

            failed: list[str] = []

            def approve_one(user, tokens=tokens, failed=failed) -> float:
                started = time.perf_counter()
                answer = requests.post(
                    f"{edge}/api/admin/users/{user.pk}/approve",
                    json={"memory": options.memory, "cpu": float(options.cpu)},
                    headers={"Authorization": f"Bearer {admin_token}"}, timeout=60,
                )  # fmt: skip
                answer.raise_for_status()
                try:
                    # As a person's browser: the workspace page follows the progress stream, then
                    # opens the apps (no polling of the apps through the edge meanwhile).
                    wait_done(edge, answer.json()["data"]["id"], tokens[user.pk], options.timeout)
                    for app in ("vscode", "jupyter"):  # both apps answer through the edge
                        host = f"{user.username}--{app}.localhost:{edge_port}"
                        cookie = edge_handshake(edge, host, tokens[user.pk])
                        wait_ok(
                            f"{edge}/",
                            cookies={settings.EDGE_COOKIE_NAME: cookie},
                            host=host,
                            timeout=options.timeout,
                        )
                except (TimeoutError, AssertionError):
                    failed.append(user.username)
                return time.perf_counter() - started

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=count) as pool:
                platform = list(pool.map(approve_one, users))
            platform_wall = time.perf_counter() - started
            # The floor gets the machine the platform had: its workspaces go first (with a real
            # image, 30 idle VS Code + Jupyter pairs would otherwise eat the floor's CPU and memory).
            remove(managed_container_names(agent.label_prefix))

            names = [f"bench-floor-{run_id}-{count}-{i}" for i in range(count)]
            started = time.perf_counter()
            try:
                with ThreadPoolExecutor(max_workers=count) as pool:
                    floor = list(
                        pool.map(
                            lambda name: via_docker_run(
                                name, options.image, (8080, 8888), floor_options(name), options.timeout
                            ),
                            names,
                        )
                    )
                floor_wall = time.perf_counter() - started
            finally:
                remove(names)
            pm, fm = statistics.median(platform), statistics.median(floor)
            print(
                f"{count:>4} {pm:>14.2f}s {max(platform):>7.2f}s {platform_wall:>7.2f}s | "
                f"{fm:>17.2f}s {max(floor):>7.2f}s {floor_wall:>7.2f}s | "
                f"{pm / fm:>6.1f}x {platform_wall / floor_wall:>5.1f}x",
                flush=True,
            )
            if failed:
                reasons = Workspace.objects.filter(owner__username__in=failed).values_list(
                    "status_reason", flat=True
                )
                print(f"     {len(failed)} of {count} never answered: {sorted(set(reasons))}", flush=True)
    except BaseException:
        for name in ("gunicorn.log", "worker.log"):  # what the platform said, before it is removed
            log = dirs["log"] / name
            if log.exists():
                print(
                    f"--- the end of {name} ---\n" + log.read_text(errors="replace")[-4000:], file=sys.stderr
                )
        raise
    finally:
        for process in reversed(processes):
            stop(process)
        if agent is not None:
            agent.stop()  # removes every container with the agent's unique label prefix
        database_drop(db_name)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
