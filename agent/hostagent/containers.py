"""Container operations. Only containers carrying `<prefix>.managed=true` are visible."""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from docker.models.containers import Container

from . import system
from .config import AgentConfig
from .docker_client import get_client, translate_errors
from .errors import BadRequest, Conflict, NotFound, PortInUse
from .policy import ContainerSpec, build_create_kwargs, validate_spec

log = logging.getLogger("hostagent.containers")
_IDENT_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}", re.ASCII)  # always fullmatch


# --- reads ------------------------------------------------------------------------------------


def container_list(*, config: AgentConfig) -> list[dict[str, Any]]:
    with translate_errors("Listing containers"):
        summaries = get_client(config).api.containers(
            all=True, filters={"label": f"{config.managed_label}=true"}
        )
    return [_from_summary(summary) for summary in summaries]


def container_counts(*, config: AgentConfig) -> dict[str, int]:
    managed = container_list(config=config)
    return {"running": sum(c["status"] == "running" for c in managed), "total": len(managed)}


def container_get(*, config: AgentConfig, ident: str) -> Container:
    """A managed container by id, name or platform name (`<prefix>-` may be left out); else 404."""
    if not isinstance(ident, str) or not _IDENT_RE.fullmatch(ident):
        raise NotFound(f"No managed container {ident!r}.")
    client = get_client(config)
    candidates = [ident]
    if not ident.startswith(f"{config.label_prefix}-"):
        candidates.append(f"{config.label_prefix}-{ident}")
    for candidate in candidates:
        try:
            with translate_errors(f"Looking up container {ident}"):
                container = client.containers.get(candidate)
        except NotFound:
            continue
        if container.labels.get(config.managed_label) == "true":
            return container
    raise NotFound(f"No managed container {ident!r}.")


def container_data(container: Container) -> dict[str, Any]:
    attrs = container.attrs
    return {
        "id": container.id,
        "name": container.name,
        "image": attrs["Config"]["Image"],
        "status": attrs["State"]["Status"],
        "labels": attrs["Config"].get("Labels") or {},
        "ports": ports_of(container),
        "created": attrs["Created"],
    }


def ports_of(container: Container) -> dict[str, dict[str, Any] | None]:
    """Published ports as `{"8080/tcp": {"host_ip", "host_port"}}`; None while not running.

    Only the ports the agent published; ports an image merely exposes are left out.
    """
    bound = container.attrs["NetworkSettings"].get("Ports") or {}
    wanted = container.attrs["HostConfig"].get("PortBindings") or {}
    ports: dict[str, dict[str, Any] | None] = {}
    for key in sorted(wanted):
        bindings = bound.get(key) or []
        ports[key] = (
            {"host_ip": bindings[0]["HostIp"], "host_port": int(bindings[0]["HostPort"])}
            if bindings
            else None
        )
    return ports


# A line as `docker logs --timestamps` gives it: RFC 3339 with up to 9 fraction digits, then the text.
_STAMPED_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ?(.*)", re.ASCII | re.DOTALL)


def _cursor_of(stamp: str, fraction: str | None) -> tuple[int, int]:
    seconds = int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    return seconds, int((fraction or "").ljust(9, "0"))


def container_logs(*, config: AgentConfig, ident: str, tail: int, after: str = "") -> dict[str, Any]:
    """The last `tail` lines, or those after `after`, with the cursor to ask for what follows.

    A cursor is "<unix seconds>.<nanoseconds>" of the newest line: Docker's `since` counts whole
    seconds and includes them, so lines of that second up to the cursor are dropped here.
    """
    container = container_get(config=config, ident=ident)
    options: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True, "timestamps": True}
    seen = (0, 0)
    if after:
        seconds, nanos = after.split(".")
        seen = (int(seconds), int(nanos))
        options["since"] = max(seen[0], 1)
    with translate_errors(f"Reading the logs of {container.name}"):
        raw = container.logs(**options)
    lines, cursor = [], after
    for line in raw.decode(errors="replace").splitlines():
        match = _STAMPED_LINE.fullmatch(line)
        if match is None:  # not Docker's shape: shown, but it moves no cursor
            lines.append(line)
            continue
        at = _cursor_of(match[1], match[2])
        if at <= seen:
            continue
        lines.append(match[3])
        cursor = f"{at[0]}.{at[1]:09d}"
    return {"lines": lines, "cursor": cursor}


def container_stats(*, config: AgentConfig, ident: str) -> dict[str, Any]:
    container = container_get(config=config, ident=ident)
    with translate_errors(f"Reading the figures of {container.name}"):
        stats = container.stats(stream=False)
    return stats_figures(stats)


def stats_figures(stats: dict[str, Any]) -> dict[str, Any]:
    """The few figures an operator reads, from Docker's raw stats (cgroup v1 or v2)."""
    cpu, precpu = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (precpu.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system_delta = cpu.get("system_cpu_usage", 0) - precpu.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    percent = (cpu_delta / system_delta) * online * 100 if cpu_delta > 0 and system_delta > 0 else 0.0
    memory = stats.get("memory_stats") or {}
    cache = (memory.get("stats") or {}).get("cache", 0) or (memory.get("stats") or {}).get("inactive_file", 0)
    networks = stats.get("networks") or {}
    return {
        "cpu_percent": round(percent, 2),
        "memory": {"used": max(int(memory.get("usage", 0)) - int(cache), 0), "limit": memory.get("limit", 0)},
        "network": {
            "rx": sum(n.get("rx_bytes", 0) for n in networks.values()),
            "tx": sum(n.get("tx_bytes", 0) for n in networks.values()),
        },
    }


# --- writes -----------------------------------------------------------------------------------


def container_create(*, config: AgentConfig, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create and start a container under the policy; (data, created).

    Idempotent by name: the same request again answers the existing container
    (started if it was not running); another container under that name is a 409.
    """
    spec = validate_spec(
        config,
        request,
        host_cpus=system.host_cpus(),
        host_memory=system.host_memory(),
        host_gpus=len(system.gpus()) if request.get("gpus") else 0,
    )
    kwargs = build_create_kwargs(config, spec)
    with _name_lock(spec.name):
        return _create_locked(config, spec, kwargs)


def _create_locked(config: AgentConfig, spec: ContainerSpec, kwargs: dict[str, Any]) -> tuple[dict, bool]:
    client = get_client(config)
    existing = _by_name(config, spec.name)
    if existing is not None:
        return _same_request(config, existing, spec), False
    try:
        with translate_errors(f"Creating container {spec.name}"):
            container = client.containers.create(**kwargs)
    except NotFound as exc:
        raise NotFound(f"Image {spec.image} is not on this host; pull or build it first.") from exc
    except Conflict:
        # Someone else (not through this agent) took the name between our look-up and our create;
        # Docker reserves a name a moment before the container can be inspected.
        for _ in range(20):
            existing = _by_name(config, spec.name)
            if existing is not None:
                return _same_request(config, existing, spec), False
            time.sleep(0.05)
        raise
    try:
        with translate_errors(f"Starting container {spec.name}"):
            container.start()
            container.reload()
    except Exception as exc:
        # Compensate: a container that cannot start is not left behind.
        with translate_errors(f"Removing container {spec.name} after a failed start"):
            container.remove(force=True, v=True)
        log.warning("Container %s did not start and was removed", spec.name)
        if isinstance(exc, PortInUse) and spec.host_ports:
            # The Engine names the first port it tripped on; name every reserved one that is taken,
            # so the caller can pick new ones in one go.
            reserved = set(spec.host_ports.values())
            taken = (set(exc.ports) & reserved) | _ports_taken(config.publish_address, reserved)
            raise PortInUse(sorted(taken) or exc.ports, what=f"Starting container {spec.name}") from exc
        raise
    log.info("Created container %s (%s) from %s", spec.name, container.short_id, spec.image)
    return container_data(container), True


def container_action(*, config: AgentConfig, ident: str, action: str, timeout: int = 10) -> dict[str, Any]:
    container = container_get(config=config, ident=ident)
    with translate_errors(f"{action.capitalize()} of container {container.name}"):
        if action == "start":
            container.start()
        elif action == "stop":
            container.stop(timeout=timeout)
        elif action == "restart":
            container.restart(timeout=timeout)
        else:
            raise BadRequest(f"Unknown action {action!r}.")
        container.reload()
    log.info("%s of container %s done", action.capitalize(), container.name)
    return container_data(container)


def container_delete(*, config: AgentConfig, ident: str) -> dict[str, Any]:
    container = container_get(config=config, ident=ident)
    with translate_errors(f"Deleting container {container.name}"):
        container.remove(force=True, v=True)
    log.info("Deleted container %s (%s)", container.name, container.short_id)
    return {"deleted": container.id, "name": container.name}


# --- helpers ----------------------------------------------------------------------------------


_name_locks: dict[str, threading.Lock] = {}
_name_locks_guard = threading.Lock()


@contextlib.contextmanager
def _name_lock(name: str) -> Iterator[None]:
    """Serialize creates of one name in this process (the agent runs a single worker).

    Locks are kept (one small object per container name ever created here):
    dropping one while another thread waits on it would let two creates run.
    """
    with _name_locks_guard:
        lock = _name_locks.setdefault(name, threading.Lock())
    with lock:
        yield


def _by_name(config: AgentConfig, name: str) -> Container | None:
    try:
        with translate_errors(f"Looking up container {name}"):
            return get_client(config).containers.get(name)
    except NotFound:
        return None


def _same_request(config: AgentConfig, container: Container, spec: ContainerSpec) -> dict[str, Any]:
    labels = container.labels
    same = (
        container.name == spec.name
        and labels.get(config.managed_label) == "true"
        and labels.get(f"{config.label_prefix}.spec") == spec.fingerprint()
    )
    if not same:
        raise Conflict(f"A different container already has the name {spec.name}.")
    if container.status != "running":
        with translate_errors(f"Starting container {spec.name}"):
            container.start()
            container.reload()
    return container_data(container)


def _ports_taken(address: str, ports: Iterable[int]) -> set[int]:
    """The ports a listening (or exclusively bound) socket holds on `address`, tried by binding."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    taken: set[int] = set()
    for port in ports:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR: a connection lingering in TIME_WAIT does not count as taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    taken.add(port)
    return taken


def _from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    ports: dict[str, dict[str, Any] | None] = {}
    for port in summary.get("Ports") or []:
        key = f"{port['PrivatePort']}/{port['Type']}"
        if port.get("PublicPort"):  # exposed-only ports have none
            ports[key] = {"host_ip": port.get("IP", ""), "host_port": int(port["PublicPort"])}
    return {
        "id": summary["Id"],
        "name": (summary.get("Names") or ["/"])[0].lstrip("/"),
        "image": summary.get("Image", ""),
        "status": summary.get("State", ""),
        "labels": summary.get("Labels") or {},
        "ports": ports,
        "created": datetime.fromtimestamp(summary.get("Created", 0), tz=UTC).isoformat(),
    }
