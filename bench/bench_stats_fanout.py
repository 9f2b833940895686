"""One stats round over 1, 10, 50 and 100 real agents, against one agent, in the same run.

Starts one real agent process (gunicorn serving agent/, one worker) per agent, all on
loopback in front of the local Docker Engine, and registers them as `Server` rows in a
scratch database of this run's own (SQLite in a temporary folder unless `--database-url`
names a MariaDB/MySQL database, which is created and dropped). For every size N it times,
median of `--repeat` rounds:

- fetch: `servers_stats_fetch(servers, use_cache=False)`, the fan-out the list and the
  dashboard use when every TTL has run out;
- poll: `servers_poll(server_ids=…)`, the beat task's whole round (the fan-out, then status,
  capacity and one history row per server);
- cold: the fetch again with the client's connection pool emptied first (a new TCP
  connection per agent, as after the agents' keep-alive ran out);

and prints each with its ratio to N = 1, plus the CPU one fetch round costs: this process's own
("own cpu": the platform's side, which stays on one machine whatever the hosts), and in all (the
agents, dockerd and this process) with the floor that puts under the round: CPU / cores. On one
machine the agents share its cores; on real hosts each agent has its own.

Last, one poll over every agent plus `--dead` dead agents (a port nobody listens on) and
`--hung` hung ones (a socket that accepts connections and never answers): the round ends
after about one read timeout, however many are hung.

Every process it starts is stopped on exit, Ctrl-C and SIGTERM.

Run: `.venv/bin/python bench/bench_stats_fanout.py [--sizes 1,10,50,100] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402

AGENT_DIR = ROOT / "agent"


class Agent:
    """One gunicorn agent process (one worker) on a free loopback port."""

    def __init__(self, workdir: Path, threads: int) -> None:
        self.secret = secrets.token_hex(24)
        self.port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AGENT_", "DJANGO_")) and k not in ("DATABASE_URL", "REDIS_URL")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="hostagent.settings",
            AGENT_SECRET=self.secret,
            AGENT_BIND="127.0.0.1",
            AGENT_PORT=str(self.port),
            AGENT_WORKSPACE_ROOT=str(workdir / "workspaces"),
            AGENT_LABEL_PREFIX=f"bf{secrets.token_hex(5)}",
            AGENT_THREADS=str(threads),
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.log_path = workdir / f"agent-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "hostagent.wsgi"],
                cwd=AGENT_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"agent on port {self.port} exited with {self.process.returncode}:\n"
                + self.log_path.read_text(errors="replace")[-2000:]
            )
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its worker so far."""
        total = 0.0
        try:
            master = psutil.Process(self.process.pid)
            for proc in [master, *master.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_agents(count: int, workdir: Path, threads: int, agents: list[Agent], timeout: float = 300) -> None:
    """Start `count` agents at once (appended to `agents` as they start, for the clean-up) and
    wait for all; one whose port another process took first is started again."""
    pending = [Agent(workdir, threads) for _ in range(count)]
    agents.extend(pending)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} agents did not start within {timeout:.0f}s")
        still = []
        for agent in pending:
            try:
                if not agent.ready():
                    still.append(agent)
            except RuntimeError:
                if "Address already in use" not in agent.log_path.read_text(errors="replace"):
                    raise
                agents.remove(agent)
                again = Agent(workdir, threads)
                agents.append(again)
                still.append(again)
        pending = still
        if pending:
            time.sleep(0.5)


def dockerd_cpu() -> Callable[[], float]:
    """The CPU of the Engine the agents use (the one of /var/run/docker.pid, else every dockerd)."""
    try:
        found = [psutil.Process(int(Path("/var/run/docker.pid").read_text()))]
    except (OSError, ValueError, psutil.Error):
        found = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "dockerd"]

    def read() -> float:
        total = 0.0
        for proc in found:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    return read


def database_setup(url: str | None, workdir: Path) -> Callable[[], None]:
    """Point Django at a scratch database and migrate it; returns what drops it."""
    os.environ["DATABASE_URL"] = url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.pop("REDIS_URL", None)
    os.environ["CACHE_URL"] = ""  # the local-memory cache: the round, not Redis, is measured
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "mgmt.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    drop = lambda: None  # noqa: E731
    if url and url.startswith("mysql://"):
        name = connection.settings_dict["NAME"]
        connection.settings_dict["NAME"] = ""
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        connection.close()
        connection.settings_dict["NAME"] = name

        def drop() -> None:
            connection.close()
            connection.settings_dict["NAME"] = ""
            with connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            connection.close()

    call_command("migrate", verbosity=0)
    return drop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,50,100")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads of each agent")
    parser.add_argument("--dead", type=int, default=1)
    parser.add_argument("--hung", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="a MariaDB database to create (default: SQLite)")
    options = parser.parse_args()
    sizes = sorted({int(n) for n in options.sizes.split(",")})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below still runs

    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    (workdir / "workspaces").mkdir()
    agents: list[Agent] = []
    hung_sockets: list[socket.socket] = []
    drop = lambda: None  # noqa: E731

    def clean_up() -> None:
        for agent in agents:
            agent.stop()
        agents.clear()
        for sock in hung_sockets:
            sock.close()
        hung_sockets.clear()
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(clean_up)
    try:
        drop = database_setup(options.database_url, workdir)
        from django.conf import settings

        import servers.clients.agent as agent_client
        from servers.models import Server, ServerStatus
        from servers.selectors import servers_stats_fetch
        from servers.services.stats import servers_poll

        started = time.monotonic()
        start_agents(max(sizes), workdir, options.threads, agents)
        print(f"{len(agents)} agents started in {time.monotonic() - started:.0f}s")
        rows = [
            Server.objects.create(
                name=f"bench-{i:03d}",
                address="127.0.0.1",
                agent_port=agent.port,
                agent_secret=agent.secret,
                status=ServerStatus.ONLINE,
            )
            for i, agent in enumerate(agents)
        ]
        cores = os.cpu_count() or 1
        print(
            f"workers={settings.SERVER_STATS_WORKERS} connect={settings.AGENT_CONNECT_TIMEOUT}s "
            f"read={settings.AGENT_READ_TIMEOUT}s cores={cores} agent threads={options.threads} "
            f"database={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        )
        dockerd = dockerd_cpu()

        def others(size: int) -> float:
            return sum(agent.cpu_seconds() for agent in agents[:size]) + dockerd()

        def rounds(call: Callable[[], object], size: int, *, before: Callable[[], None] = lambda: None):
            samples, own, cpu = [], [], []
            for _ in range(options.repeat):
                before()
                # Reading the others' CPU costs this process some: it stays outside the interval.
                others_before = others(size)
                own_before = time.process_time()
                start = time.perf_counter()
                call()
                samples.append((time.perf_counter() - start) * 1000)
                own_after = time.process_time()
                others_after = others(size)
                own.append((own_after - own_before) * 1000)
                cpu.append((own_after - own_before + others_after - others_before) * 1000)
            return statistics.median(samples), statistics.median(own), statistics.median(cpu)

        def empty_pool() -> None:
            agent_client._session = None  # the next call builds a new session: new connections

        print(
            f"{'agents':>6} {'fetch ms':>9} {'x1':>6} {'poll ms':>8} {'x1':>6} {'cold ms':>8} {'x1':>6} "
            f"{'own cpu':>7} {'cpu ms':>7} {'cpu/cores':>9} {'ok':>7}"
        )
        base: tuple[float, float, float] | None = None
        for size in sizes:
            servers = rows[:size]
            ids = [s.pk for s in servers]
            answers = servers_stats_fetch(servers, use_cache=False)  # warm the pool
            ok = sum(r.ok for r in answers.values())
            if ok != size:
                bad = next(r for r in answers.values() if not r.ok)
                raise SystemExit(f"{size - ok} of {size} agents did not answer: {bad.error}")
            fetch, own, cpu = rounds(lambda s=servers: servers_stats_fetch(s, use_cache=False), size)
            poll, _, _ = rounds(lambda i=ids: servers_poll(server_ids=i), size)
            cold, _, _ = rounds(
                lambda s=servers: servers_stats_fetch(s, use_cache=False), size, before=empty_pool
            )
            base = base or (fetch, poll, cold)
            print(
                f"{size:>6} {fetch:>9.1f} {fetch / base[0]:>6.2f} {poll:>8.1f} {poll / base[1]:>6.2f} "
                f"{cold:>8.1f} {cold / base[2]:>6.2f} {own:>7.0f} {cpu:>7.0f} {cpu / cores:>9.1f} "
                f"{ok:>3}/{size}"
            )

        # Dead and hung agents among all the live ones.
        broken = []
        for n in range(options.dead):
            port = free_port()  # closed again at once: connections are refused
            broken.append(Server(name=f"dead-{n}", address="127.0.0.1", agent_port=port))
        for n in range(options.hung):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)  # the kernel accepts connections; nobody ever reads or answers
            hung_sockets.append(sock)
            broken.append(Server(name=f"hung-{n}", address="127.0.0.1", agent_port=sock.getsockname()[1]))
        for server in broken:
            server.agent_secret = secrets.token_hex(24)
            server.status = ServerStatus.ONLINE
            server.save()
        ids = [s.pk for s in rows] + [s.pk for s in broken]
        start = time.perf_counter()
        outcome = servers_poll(server_ids=ids)
        took = time.perf_counter() - start
        online = sum(status == ServerStatus.ONLINE for status in outcome.values())
        print(
            f"{len(rows)} live + {options.dead} dead + {options.hung} hung: poll {took:.2f}s "
            f"(read timeout {settings.AGENT_READ_TIMEOUT:.1f}s, round deadline "
            f"{settings.AGENT_CONNECT_TIMEOUT + settings.AGENT_READ_TIMEOUT + 0.5:.1f}s); "
            f"{online} online, {len(outcome) - online} offline"
        )
    finally:
        clean_up()
        drop()


if __name__ == "__main__":
    main()
