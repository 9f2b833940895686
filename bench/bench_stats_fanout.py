"""Stats fan-out over 1, 10 and 50 real agents (plus one dead), against one agent's latency.

Starts real agent processes (gunicorn serving agent/) on loopback ports; to keep
memory and start-up time low, each process binds PORTS_PER_PROCESS ports with
several `-b` options. For every size N it builds N live servers plus one dead
one (an agent process that was started and then killed: its port refuses) and
measures, in the same run:

- single: one signed `query_agent_stats` to one agent (the floor);
- fan-out: `servers_stats_fetch` uncached (what the list costs when every TTL
  has run out) over the N+1 servers;
- cached: the same call again (what the list costs within the TTL);
- hung: the fan-out with one agent frozen (SIGSTOP) instead of dead, which is
  bounded by the agent timeout.

Run: `make bench` or `.venv/bin/python bench/bench_stats_fanout.py`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mgmt.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402

from servers.clients.agent import AgentClient, AgentTarget  # noqa: E402
from servers.models import Server  # noqa: E402
from servers.selectors import servers_stats_fetch  # noqa: E402
from tests.agent_process import AGENT_DIR, unique_prefix  # noqa: E402

SIZES = (1, 10, 50)
PORTS_PER_PROCESS = 5
REPEAT = 5


class AgentGroup:
    """One gunicorn agent process listening on several loopback ports."""

    def __init__(self, count: int, workdir: Path) -> None:
        self.secret = secrets.token_hex(24)
        self.ports = distinct_free_ports(count)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_", "DJANGO_"))}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env.update(
            DJANGO_SETTINGS_MODULE="hostagent.settings",
            AGENT_SECRET=self.secret,
            AGENT_BIND="127.0.0.1",
            AGENT_PORT=str(self.ports[0]),
            AGENT_WORKSPACE_ROOT=str(workdir),
            AGENT_LABEL_PREFIX=unique_prefix(),
            AGENT_THREADS="16",
        )
        self.log_path = workdir / f"agent-{self.ports[0]}.log"
        binds = [arg for port in self.ports for arg in ("-b", f"127.0.0.1:{port}")]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *binds, "hostagent.wsgi"],
                cwd=AGENT_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"agent process exited with {self.process.returncode}:\n"
                        + self.log_path.read_text(errors="replace")[-2000:]
                    )
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"agent on port {port} did not start")
                time.sleep(0.1)

    def signal(self, sig: int) -> None:
        os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(timeout=5)


def distinct_free_ports(count: int) -> list[int]:
    """Ports free right now and distinct (sockets held open until all are chosen)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def start_group(count: int, workdir: Path, attempts: int = 3) -> AgentGroup:
    """Start a group; another process on the machine may grab a chosen port first, so retry."""
    for attempt in range(attempts):
        group = AgentGroup(count, workdir)
        try:
            group.wait_ready()
            return group
        except RuntimeError:
            group.stop()
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def server(pk: int, port: int, secret: str) -> Server:
    """An unsaved Server: the fan-out needs only its address, port, name and secret."""
    return Server(pk=pk, name=f"bench-{pk}", address="127.0.0.1", agent_port=port, agent_secret=secret)


def timed(call, repeat: int = REPEAT) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    largest = max(SIZES)
    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    groups: list[AgentGroup] = []
    dead = hung = None
    try:
        for _ in range(-(-largest // PORTS_PER_PROCESS)):
            groups.append(start_group(PORTS_PER_PROCESS, workdir))
        dead = start_group(1, workdir)
        hung = start_group(1, workdir)
        dead.stop()  # a host whose agent died: its port refuses connections
        live = [(port, g.secret) for g in groups for port in g.ports]
        print(
            f"agents: {len(live)} live ports in {len(groups)} processes, 1 dead; "
            f"workers={settings.SERVER_STATS_WORKERS}, timeouts connect={settings.AGENT_CONNECT_TIMEOUT}s "
            f"read={settings.AGENT_READ_TIMEOUT}s, cpus={os.cpu_count()}"
        )
        single_client = AgentClient(AgentTarget("single", f"http://127.0.0.1:{live[0][0]}", live[0][1]))
        single_client.query_agent_stats()  # warm the pool
        single = timed(single_client.query_agent_stats)
        print(f"single agent query_agent_stats: {single:.1f} ms (median of {REPEAT})")
        print(f"{'agents':>8} {'fan-out ms':>11} {'x single':>9} {'cached ms':>10} {'hung ms':>9} {'ok':>5}")
        for size in SIZES:
            servers = [server(i + 1, port, secret) for i, (port, secret) in enumerate(live[:size])]
            servers.append(server(size + 1, dead.ports[0], dead.secret))
            results = servers_stats_fetch(servers, use_cache=False)
            ok = sum(r.ok for r in results.values())
            fanout = timed(lambda servers=servers: servers_stats_fetch(servers, use_cache=False))
            cached = timed(lambda servers=servers: servers_stats_fetch(servers, use_cache=True))
            with_hung = [*servers[:-1], server(size + 1, hung.ports[0], hung.secret)]
            hung.signal(signal.SIGSTOP)
            try:
                hung_ms = timed(lambda s=with_hung: servers_stats_fetch(s, use_cache=False), repeat=1)
            finally:
                hung.signal(signal.SIGCONT)
            print(
                f"{size:>8} {fanout:>11.1f} {fanout / single:>9.2f} {cached:>10.2f} {hung_ms:>9.0f} "
                f"{ok:>2}/{len(servers)}"
            )
    finally:
        for group in [*groups, dead, hung]:
            if group is not None:
                group.stop()


if __name__ == "__main__":
    main()
