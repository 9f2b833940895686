"""Simulated Docker hosts: each one a separate machine as far as the network can tell.

A host is a network namespace (`ip netns add mgmt-t-<run>-<i>`) joined to the root namespace by a
veth pair: the root side `mgmt-t-<run><i>` holds 10.201.<n>.1/24, the namespace's `eth0` holds
10.201.<n>.2/24, the host's address. Inside it run its own Docker Engine (its own data root, exec
root, socket `/run/mgmt-netns/<run>-<i>/docker.sock`, pid file, cgroup parent, config file and
bridge `10.202.<n>.1/24`, with its own containerd) and its own agent on 10.201.<n>.2:5005, which
publishes the workspaces' ports on that address. The platform, its workers and nginx (all in the
root namespace) reach a host only through that address: Server.address, the route's upstream.

Processes enter the namespace with `nsenter --net=/run/netns/<ns>` rather than `ip netns exec`:
the latter also remounts /sys in a private mount namespace, which hides the cgroup mounts dockerd
needs ("Devices cgroup isn't mounted").

    def test_x(netns_stack):                          # three hosts, registered as servers
        a, b, c = netns_stack.hosts
        netns_stack.register(a, memory_total=16 * GiB)
        with a.cut_off(): ...                         # its link is down until the block ends
        a.workspace_root                              # where a's agent keeps workspace folders

The hosts are made once per session, on first use, in parallel (about 3 s for three); the
stand-in image (`mgmt-test/workspace:latest`, scripts/build-test-images.sh) is loaded into each
engine with `docker save | docker load`. After every test their containers (and folders) are
removed. At the end of the session, and at its start for what an earlier killed run left behind
(its owner pid is gone), everything is taken down: the containers, every process in the namespace
(agent, dockerd, containerd, shims), the mounts under the data roots, the namespace, the veth,
the state and temporary folders. Needs root, iproute2, nsenter (util-linux) and dockerd; under
CI=true their absence fails the test (tests/services.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.agent_process import AgentProcess, start_agent
from tests.net import wait_until
from tests.services import require, require_binary, require_docker

PREFIX = "mgmt-t-"
STATE_ROOT = Path("/run/mgmt-netns")
TEMP_ROOT = Path(tempfile.gettempdir())
IMAGE = "mgmt-test/workspace:latest"
AGENT_PORT = 5005  # the same on every host, as on real machines: only the address differs
LABEL_PREFIX = "mgmt"  # likewise: each engine is its own
GiB = 1024**3


def _run(*args: str, check: bool = True, timeout: float = 30, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout, **kwargs)


@dataclass
class NetnsHost:
    index: int
    run: str
    subnet: int  # n of 10.201.<n>.0/24
    base: Path  # this host's temporary folder: data and exec roots, logs, workspaces
    state: Path  # /run/mgmt-netns/<run>-<i>: the Docker socket and the engine's pid file
    workspace_root: Path  # the agent's root of workspace folders on this host's disk
    template: Path  # what a new workspace folder starts as, on this host
    agent: AgentProcess | None = None
    dockerd: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def netns(self) -> str:
        return f"{PREFIX}{self.run}-{self.index}"

    @property
    def veth(self) -> str:
        """The root namespace's end of the pair (the namespace's end is `eth0`)."""
        return f"{PREFIX}{self.run}{self.index}"

    @property
    def address(self) -> str:
        return f"10.201.{self.subnet}.2"

    @property
    def gateway(self) -> str:
        return f"10.201.{self.subnet}.1"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.state}/docker.sock"

    @property
    def enter(self) -> list[str]:
        """The command prefix that runs a program inside this host's network namespace."""
        return ["nsenter", f"--net=/run/netns/{self.netns}"]

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """`docker -H <this host's engine> …`."""
        return _run("docker", "-H", self.docker_host, *args, check=check, timeout=timeout)

    def containers(self) -> list[str]:
        """Names of every container on this host's engine."""
        return sorted(self.docker("ps", "-a", "--format", "{{.Names}}").stdout.split())

    def reachable(self, timeout: float = 1.0) -> bool:
        try:
            return requests.get(f"http://{self.address}:{AGENT_PORT}/health", timeout=timeout).ok
        except requests.RequestException:
            return False

    @contextlib.contextmanager
    def cut_off(self) -> Iterator[None]:
        """The host's link is down (nothing reaches its address) until the block ends."""
        _run("ip", "-n", self.netns, "link", "set", "eth0", "down")
        try:
            assert wait_until(lambda: not self.reachable(timeout=0.5), timeout=10), (
                f"{self.netns} still answers"
            )
            yield
        finally:
            _run("ip", "-n", self.netns, "link", "set", "eth0", "up")
            assert wait_until(self.reachable, timeout=15, interval=0.1), f"{self.netns} does not answer again"

    def clear(self) -> None:
        """Remove every container and workspace folder: the next test finds an empty host."""
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check=False, timeout=120)
        if self.workspace_root.is_dir():
            for entry in self.workspace_root.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


# --- making a host ---------------------------------------------------------------------------
def _used_subnets() -> set[int]:
    out = _run("ip", "-o", "-4", "addr", "show").stdout
    used = set()
    for word in out.split():
        if word.startswith("10.201."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(word.split(".")[2]))
    return used


@contextlib.contextmanager
def _state_lock() -> Iterator[None]:
    """One session at a time picks subnets and sweeps leftovers."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(STATE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _network_up(host: NetnsHost) -> None:
    _run("ip", "netns", "add", host.netns)
    _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
    _run("ip", "addr", "add", f"{host.gateway}/24", "dev", host.veth)
    _run("ip", "link", "set", host.veth, "up")
    _run("ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
    _run("ip", "-n", host.netns, "link", "set", "lo", "up")
    _run("ip", "-n", host.netns, "link", "set", "eth0", "up")


def _engine_up(host: NetnsHost, image_tar: Path) -> None:
    for name in ("data", "exec"):
        (host.base / name).mkdir(parents=True, exist_ok=True)
    config = host.base / "daemon.json"
    config.write_text("{}\n")  # never the machine's /etc/docker/daemon.json
    log = open(host.base / "dockerd.log", "wb")  # noqa: SIM115 (closed with the process)
    host.dockerd = subprocess.Popen(
        [
            *host.enter,
            "dockerd",
            f"--config-file={config}",
            f"--data-root={host.base / 'data'}",
            f"--exec-root={host.base / 'exec'}",
            f"--host={host.docker_host}",
            f"--pidfile={host.state / 'docker.pid'}",
            f"--bip=10.202.{host.subnet}.1/24",
            f"--default-address-pool=base=10.203.{host.subnet}.0/24,size=28",
            f"--cgroup-parent={host.netns}",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()

    def answers() -> bool:
        if host.dockerd is not None and host.dockerd.poll() is not None:
            raise RuntimeError(f"dockerd of {host.netns} exited:\n{_tail(host.base / 'dockerd.log')}")
        return host.docker("version", check=False, timeout=10).returncode == 0

    if not wait_until(answers, timeout=60, interval=0.1):
        raise RuntimeError(f"dockerd of {host.netns} did not answer:\n{_tail(host.base / 'dockerd.log')}")
    with open(image_tar, "rb") as tar:
        loaded = subprocess.run(
            ["docker", "-H", host.docker_host, "load", "-q"], stdin=tar, capture_output=True, timeout=120
        )
    if loaded.returncode != 0:
        raise RuntimeError(f"Loading {IMAGE} into {host.netns} failed: {loaded.stderr.decode()[-2000:]}")


def _agent_up(host: NetnsHost) -> None:
    root = host.workspace_root  # this host's own disk: its agent makes and removes the folders
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    host.agent = start_agent(
        workspace_root=root,
        label_prefix=LABEL_PREFIX,
        docker_host=host.docker_host,
        publish_address=host.address,
        bind=host.address,
        port=AGENT_PORT,
        log_dir=host.base,
        command_prefix=host.enter,
        env={"AGENT_WORKSPACE_TEMPLATE": str(host.template)},
        startup_timeout=60,
    )


def _tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


# --- taking a host down ----------------------------------------------------------------------
def _pids_in(netns: str) -> list[int]:
    out = _run("ip", "netns", "pids", netns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _alive(pid: int) -> bool:
    """Running (a zombie, e.g. our own unreaped dockerd, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _unmount_under(path: Path) -> None:
    """Unmount everything dockerd left mounted below `path`, deepest first."""
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    points = [p.encode().decode("unicode_escape") for p in points]
    for point in sorted((p for p in points if p.startswith(prefix) or p == str(path)), key=len, reverse=True):
        if _run("umount", point, check=False).returncode != 0:
            _run("umount", "-l", point, check=False)


def teardown(*, netns: str, veth: str, base: Path | None, state: Path | None, dockerd: int | None) -> None:
    """Take one host down; every step is best effort, so a half-made host goes too."""
    sock = state / "docker.sock" if state else None
    if sock is not None and sock.exists():
        ids = _run("docker", "-H", f"unix://{sock}", "ps", "-aq", check=False, timeout=20).stdout.split()
        if ids:
            _run("docker", "-H", f"unix://{sock}", "rm", "-f", *ids, check=False, timeout=60)
    if dockerd is None and state is not None and (state / "docker.pid").exists():
        with contextlib.suppress(ValueError, OSError):
            dockerd = int((state / "docker.pid").read_text().strip())
    if dockerd is not None and _alive(dockerd):
        with contextlib.suppress(ProcessLookupError):
            os.kill(dockerd, signal.SIGTERM)
        wait_until(lambda: not _alive(dockerd), timeout=15, interval=0.1)
    # Whatever still runs in the namespace (the agent, containerd, shims, container processes).
    if Path(f"/run/netns/{netns}").exists():
        for _ in range(3):
            pids = _pids_in(netns)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda p=pids: not any(_alive(x) for x in p), timeout=5, interval=0.05)
    if base is not None:
        _unmount_under(base)
    _run("ip", "netns", "del", netns, check=False)
    _run("ip", "link", "del", veth, check=False)  # gone with the namespace's end, normally
    for path in (base, state):
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)


def cleanup_leftovers() -> list[str]:
    """Take down what sessions that died without their finalizers left (their owner pid is gone)."""
    removed: list[str] = []
    if not STATE_ROOT.is_dir():
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
    live_runs = set()
    for run_dir in STATE_ROOT.glob("run-*"):
        owner = run_dir / "owner"
        try:
            pid = int(owner.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid and _alive(pid):
            live_runs.add(run_dir.name.removeprefix("run-"))
            continue
        run = run_dir.name.removeprefix("run-")
        base = Path((run_dir / "base").read_text().strip()) if (run_dir / "base").exists() else None
        for host_state in STATE_ROOT.glob(f"{run}-*"):
            index = host_state.name.rsplit("-", 1)[1]
            host_base = base / index if base else None
            teardown(netns=f"{PREFIX}{host_state.name}", veth=f"{PREFIX}{run}{index}", base=host_base,
                     state=host_state, dockerd=None)  # fmt: skip
            removed.append(host_state.name)
        if base is not None:
            _unmount_under(base)
            shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    # Namespaces and veths of our prefix whose run is not alive (state lost, e.g. /run cleared).
    for line in _run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        run = name.removeprefix(PREFIX).split("-")[0]
        if name.startswith(PREFIX) and run not in live_runs:
            teardown(netns=name, veth=f"{PREFIX}{run}{name.rsplit('-', 1)[-1]}", base=None, state=None,
                     dockerd=None)  # fmt: skip
            removed.append(name)
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        name = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
        if name.startswith(PREFIX) and name.removeprefix(PREFIX)[:6] not in live_runs:
            _run("ip", "link", "del", name, check=False)
            removed.append(name)
    for stale in TEMP_ROOT.glob(f"{PREFIX}*"):
        if stale.is_dir() and stale.name.removeprefix(PREFIX).split("-")[0] not in live_runs:
            _unmount_under(stale)
            shutil.rmtree(stale, ignore_errors=True)
    return removed


# --- the session's hosts ---------------------------------------------------------------------
class NetnsHosts:
    """The session's simulated hosts, made on demand: `get(3)` makes sure three exist."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:6]  # the veth `mgmt-t-<run><i>` must fit in 15 characters
        self.run_dir = STATE_ROOT / f"run-{self.run}"
        self.run_dir.mkdir(parents=True)
        (self.run_dir / "owner").write_text(f"{os.getpid()}\n")
        self.base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.run}-", dir=TEMP_ROOT))
        self.base.chmod(0o755)
        (self.run_dir / "base").write_text(f"{self.base}\n")
        self.hosts: list[NetnsHost] = []
        self._image_tar: Path | None = None
        self._lock = threading.Lock()

    def _image(self) -> Path:
        if self._image_tar is None:
            tar = self.base / "image.tar"
            _run("docker", "save", "-o", str(tar), IMAGE, timeout=120)
            self._image_tar = tar
        return self._image_tar

    def _new_host(self, index: int, subnet: int) -> NetnsHost:
        base = self.base / str(index)
        state = STATE_ROOT / f"{self.run}-{index}"
        for path in (base, state):
            path.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        template = base / "template"
        (template / "notebooks").mkdir(parents=True, exist_ok=True)
        (template / "README.txt").write_text(f"Your workspace (host {index}).\n")
        return NetnsHost(index=index, run=self.run, subnet=subnet, base=base, state=state,
                         workspace_root=base / "workspaces", template=template)  # fmt: skip

    def get(self, count: int) -> list[NetnsHost]:
        with self._lock:
            missing = count - len(self.hosts)
            if missing > 0:
                image = self._image()
                with _state_lock():
                    free = [n for n in range(1, 255) if n not in _used_subnets()]
                    new = [self._new_host(len(self.hosts) + i, free[i]) for i in range(missing)]
                    self.hosts.extend(new)  # before anything can fail: close() takes them down
                    for host in new:
                        _network_up(host)
                with ThreadPoolExecutor(max_workers=len(new)) as pool:
                    list(pool.map(lambda h: self._start(h, image), new))
            return self.hosts[:count]

    def _start(self, host: NetnsHost, image: Path) -> None:
        _engine_up(host, image)
        _agent_up(host)

    def clear(self) -> None:
        with ThreadPoolExecutor(max_workers=max(1, len(self.hosts))) as pool:
            list(pool.map(NetnsHost.clear, self.hosts))

    def close(self) -> None:
        def down(host: NetnsHost) -> None:
            if host.agent is not None:
                host.agent.stop(remove_containers=False)
            teardown(netns=host.netns, veth=host.veth, base=host.base, state=host.state,
                     dockerd=host.dockerd.pid if host.dockerd else None)  # fmt: skip
            if host.dockerd is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.dockerd.wait(timeout=5)

        if self.hosts:
            with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
                list(pool.map(down, self.hosts))
        self.hosts = []
        _unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def require_netns() -> None:
    """Root, iproute2, nsenter, dockerd and the stand-in image (a skip, or under CI=true a failure)."""
    require(os.geteuid() == 0, "root (to make network namespaces and start Docker Engines)")
    require_binary("ip", "iproute2")
    require_binary("nsenter", "util-linux")
    require_binary("dockerd", "docker.io")
    require_docker()
    image = _run("docker", "image", "inspect", IMAGE, check=False).returncode == 0
    require(image, f"the image {IMAGE} (scripts/build-test-images.sh)")


@pytest.fixture(scope="session")
def netns_hosts() -> Iterator[NetnsHosts]:
    """The session's simulated hosts (`netns_hosts.get(n)`); all taken down at the end."""
    require_netns()
    with _state_lock():  # the new run is recorded before another session's sweep can see it
        cleanup_leftovers()
        pool = NetnsHosts()
    try:
        yield pool
    finally:
        pool.close()


@dataclass
class NetnsStack:
    """The edge stack (nginx in front of a live Django) and three simulated hosts."""

    edge: Any  # tests.containers.stack.Stack, without an agent
    hosts: list[NetnsHost]
    servers: dict[int, Any] = field(default_factory=dict)  # host index → Server

    def register(self, host: NetnsHost, **fields: Any) -> Any:
        """The host as a server: reached at its address only."""
        from tests.containers.stack import register_server

        assert host.agent is not None
        fields.setdefault("address", host.address)
        server = register_server(host.agent, name=fields.pop("name", f"netns-{host.index}"), **fields)
        self.servers[host.index] = server
        return server

    def host_of(self, server: Any) -> NetnsHost:
        return next(h for h in self.hosts if h.address == server.address)


@pytest.fixture
def netns_stack(netns_hosts, edge_stack, settings) -> Iterator[NetnsStack]:
    """Three hosts, emptied after the test; nothing registered yet (`netns_stack.register`)."""
    hosts = netns_hosts.get(3)
    try:
        yield NetnsStack(edge=edge_stack, hosts=hosts)
    finally:
        netns_hosts.clear()
