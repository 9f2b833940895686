"""The container policy: what the agent lets a caller create, whatever the caller asks.

`build_create_kwargs` is the only way a create request becomes arguments of
`containers.create`; it sets every safety-relevant option itself:
never privileged, no added capabilities, default (bridge) network and private
PID/IPC namespaces, no devices except the GPUs asked for, one bind mount (the
workspace folder, which must resolve inside the workspace root), memory, CPU
and PID limits always, a restart policy, the platform's label prefix on names
and labels, and ports published only on the configured publish address (on
the host ports the caller reserved, or on ports Docker chooses).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from docker.types import DeviceRequest

from .config import MIN_MEMORY_BYTES, AgentConfig, parse_size
from .errors import BadRequest
from .folders import folder_path

# Always fullmatch, ASCII only: `$` lets a trailing newline through and `\w` matches any letter.
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}", re.ASCII)
# A Docker image reference: [registry[:port]/]path[:tag][@digest], lower-case path.
IMAGE_RE = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?",
    re.ASCII,
)
ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
LABEL_KEY_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}", re.ASCII)
PORT_KEY_RE = re.compile(r"[1-9][0-9]{0,4}", re.ASCII)
MAX_PORTS = 32
MIN_HOST_PORT = 1024  # below are privileged ports, never a workspace's

# Options a caller might try to slip in; the create endpoint refuses them by name.
FORBIDDEN_OPTIONS = (
    "privileged",
    "cap_add",
    "capabilities",
    "network_mode",
    "network",
    "pid_mode",
    "ipc_mode",
    "uts_mode",
    "userns_mode",
    "devices",
    "device_requests",
    "volumes",
    "binds",
    "mounts",
    "volumes_from",
    "security_opt",
    "sysctls",
    "cgroup_parent",
    "restart_policy",
    "host_config",
    "publish_all_ports",
    "port_bindings",
    "command",
    "entrypoint",
)


@dataclass(frozen=True)
class ContainerSpec:
    """A validated create request, with every default filled in."""

    name: str  # the Docker name, with the platform's prefix
    image: str
    env: dict[str, str] = field(default_factory=dict)
    nano_cpus: int = 0
    memory: int = 0
    gpus: int = 0
    ports: tuple[int, ...] = ()  # container ports to publish
    host_ports: dict[int, int] = field(default_factory=dict)  # container → host port; empty: ephemeral
    workspace_folder: str | None = None  # resolved, inside the workspace root
    labels: dict[str, str] = field(default_factory=dict)  # prefixed keys
    user: str = ""  # "uid:gid": the configured workspace user, or "" for the image's own

    def fingerprint(self) -> str:
        """Same request → same fingerprint; stored as a label for idempotent create."""
        fields: dict[str, Any] = {
            "image": self.image,
            "env": self.env,
            "nano_cpus": self.nano_cpus,
            "memory": self.memory,
            "gpus": self.gpus,
            "ports": sorted(self.ports),
            "workspace_folder": self.workspace_folder,
            "labels": self.labels,
        }
        if self.host_ports:
            # Only when given: containers created with the list form keep their fingerprint.
            fields["host_ports"] = {str(port): host for port, host in sorted(self.host_ports.items())}
        if self.user:  # likewise: containers created without a user keep theirs
            fields["user"] = self.user
        payload = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def container_name(config: AgentConfig, name: str) -> str:
    """The Docker name of a platform container: `<prefix>-<name>` (prefix added once)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BadRequest(
            f"name: {name!r} must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    prefix = f"{config.label_prefix}-"
    return name if name.startswith(prefix) else prefix + name


def resolve_workspace_folder(config: AgentConfig, folder: str) -> str:
    """The real path of a folder that must lie inside the workspace root (symlinks, `..` resolved)."""
    if not folder or not os.path.isabs(folder) or "\x00" in folder:
        raise BadRequest("workspace_folder: must be an absolute path.")
    root = os.path.realpath(config.workspace_root)
    real = os.path.realpath(folder)
    if os.path.commonpath([root, real]) != root or real == root:
        raise BadRequest(f"workspace_folder: {folder} is not inside the workspace root {root}.")
    if not os.path.isdir(real):
        raise BadRequest(f"workspace_folder: {folder} is not an existing directory.")
    return real


def validate_spec(
    config: AgentConfig,
    request: dict[str, Any],
    *,
    host_cpus: float,
    host_memory: int,
    host_gpus: int,
) -> ContainerSpec:
    """Check a create request against the policy; raise BadRequest naming the first problem."""
    forbidden = sorted(key for key in request if key in FORBIDDEN_OPTIONS)
    if forbidden:
        raise BadRequest(f"{forbidden[0]}: not allowed by the agent's container policy.")
    unknown = sorted(set(request) - {"name", "image", "env", "cpu", "memory", "gpus", "ports",
                                     "workspace_folder", "folder", "labels", "user"})  # fmt: skip
    if unknown:
        raise BadRequest(f"{unknown[0]}: unknown option.")

    name = request.get("name")
    if not isinstance(name, str):
        raise BadRequest("name: required, a string.")
    image = request.get("image")
    if not isinstance(image, str) or not IMAGE_RE.fullmatch(image) or len(image) > 255:
        raise BadRequest("image: required, a Docker image reference such as registry:5000/team/ide:1.0.")

    env = request.get("env") or {}
    if not isinstance(env, dict):
        raise BadRequest("env: must be an object of names to strings.")
    for key, value in env.items():
        if not ENV_KEY_RE.fullmatch(str(key)):
            raise BadRequest(f"env: {key!r} is not a valid variable name.")
        if not isinstance(value, str | int | float) or isinstance(value, bool) or "\x00" in str(value):
            raise BadRequest(f"env: the value of {key} must be a string.")
    env = {str(k): str(v) for k, v in env.items()}

    cpu = request.get("cpu")
    if cpu is None:
        cpus = config.default_cpus
    elif isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0:
        raise BadRequest("cpu: must be a positive number of CPUs.")
    else:
        cpus = float(cpu)
    max_cpus = config.max_cpus or host_cpus
    if cpus > max_cpus:
        raise BadRequest(f"cpu: {cpus:g} is more than this host allows ({max_cpus:g}).")

    raw_memory = request.get("memory")
    try:
        memory = config.default_memory if raw_memory is None else parse_size(raw_memory)
    except ValueError as exc:
        raise BadRequest(f"memory: {exc}.") from exc
    if isinstance(raw_memory, bool) or memory < MIN_MEMORY_BYTES:
        raise BadRequest("memory: must be at least 6m.")
    max_memory = config.max_memory or host_memory
    if memory > max_memory:
        raise BadRequest(f"memory: {memory} bytes is more than this host allows ({max_memory}).")

    gpus = request.get("gpus", 0) or 0
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise BadRequest("gpus: must be a whole number, 0 or more.")
    if gpus > host_gpus:
        raise BadRequest(f"gpus: {gpus} requested but this host has {host_gpus}.")

    ports, host_ports = _validate_ports(request.get("ports"))

    folder = request.get("workspace_folder")
    if folder is not None and not isinstance(folder, str):
        raise BadRequest("workspace_folder: must be an absolute path.")
    if request.get("folder") is not None:  # a folder of this host's, by name (api/folders)
        if folder:
            raise BadRequest("Give either folder (a name) or workspace_folder (a path), not both.")
        folder = str(folder_path(config, request["folder"]))
    real_folder = resolve_workspace_folder(config, folder) if folder else None

    labels = request.get("labels") or {}
    if not isinstance(labels, dict):
        raise BadRequest("labels: must be an object of names to strings.")
    prefixed: dict[str, str] = {}
    for key, value in labels.items():
        bare = key[len(config.label_prefix) + 1 :] if key.startswith(f"{config.label_prefix}.") else key
        if not LABEL_KEY_RE.fullmatch(bare):
            raise BadRequest(f"labels: {key!r} is not a valid label name (a-z, 0-9, '.', '_', '-').")
        if bare in ("managed", "spec"):
            raise BadRequest(f"labels: {key!r} is set by the agent.")
        if not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 255:
            raise BadRequest(f"labels: the value of {key} must be a short string.")
        prefixed[f"{config.label_prefix}.{bare}"] = str(value)

    user = request.get("user") or ""
    if user and (not isinstance(user, str) or user != config.workspace_user):
        # Exactly the configured workspace user, never an arbitrary one (root least of all).
        raise BadRequest(f"user: only {config.workspace_user} (the workspace user) may be asked for.")

    return ContainerSpec(
        user=user,
        name=container_name(config, name),
        image=image,
        env=env,
        nano_cpus=int(cpus * 1e9),
        memory=memory,
        gpus=gpus,
        ports=ports,
        host_ports=host_ports,
        workspace_folder=real_folder,
        labels=prefixed,
    )


def _validate_ports(raw: Any) -> tuple[tuple[int, ...], dict[int, int]]:
    """(container ports, container → host port) from `[8080, …]` or `{"8080": 21000, …}`."""
    if raw is None:
        return (), {}
    if isinstance(raw, list):
        if len(raw) > MAX_PORTS:
            raise BadRequest(f"ports: at most {MAX_PORTS} ports.")
        for port in raw:
            if not _is_port(port, 1):
                raise BadRequest(f"ports: {port!r} is not a port number (1-65535).")
        return tuple(dict.fromkeys(raw)), {}
    if not isinstance(raw, dict):
        raise BadRequest(
            "ports: must be a list of container ports or an object of container ports to host ports."
        )
    if len(raw) > MAX_PORTS:
        raise BadRequest(f"ports: at most {MAX_PORTS} ports.")
    mapping: dict[int, int] = {}
    for key, host in raw.items():
        # JSON keys are strings; a Python caller may pass ints.
        port = int(key) if isinstance(key, str) and PORT_KEY_RE.fullmatch(key) else key
        if not _is_port(port, 1):
            raise BadRequest(f"ports: {key!r} is not a container port number (1-65535).")
        if port in mapping:
            raise BadRequest(f"ports: container port {port} is given twice.")
        if not _is_port(host, MIN_HOST_PORT):
            raise BadRequest(
                f"ports: host port {host!r} for container port {port} is not a port number "
                f"({MIN_HOST_PORT}-65535)."
            )
        if host in mapping.values():
            raise BadRequest(f"ports: host port {host} is given for more than one container port.")
        mapping[port] = host
    return tuple(mapping), mapping


def _is_port(value: Any, lowest: int) -> bool:
    # bool is an int in Python; True is not port 1.
    return isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= 65535


def build_create_kwargs(config: AgentConfig, spec: ContainerSpec) -> dict[str, Any]:
    """Arguments of `client.containers.create` for a validated spec; the policy lives here."""
    labels = {
        **spec.labels,
        config.managed_label: "true",
        f"{config.label_prefix}.spec": spec.fingerprint(),
    }
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "detach": True,
        "environment": spec.env,
        "labels": labels,
        "privileged": False,
        "cap_add": None,
        "network_mode": "bridge",
        "pid_mode": None,
        "ipc_mode": "private",
        "devices": None,
        "nano_cpus": spec.nano_cpus,
        "mem_limit": spec.memory,
        "memswap_limit": spec.memory,  # no swap on top of the memory limit
        "pids_limit": config.pids_limit,
        "restart_policy": {"Name": config.restart_policy}
        | ({"MaximumRetryCount": 5} if config.restart_policy == "on-failure" else {}),
        # A fixed host port survives Docker's restarts of the container; None lets Docker choose.
        "ports": {f"{port}/tcp": (config.publish_address, spec.host_ports.get(port)) for port in spec.ports},
        "volumes": (
            {spec.workspace_folder: {"bind": config.workspace_mount, "mode": "rw"}}
            if spec.workspace_folder
            else None
        ),
    }
    if spec.user:
        kwargs["user"] = spec.user
    if spec.gpus:
        kwargs["device_requests"] = [DeviceRequest(count=spec.gpus, capabilities=[["gpu"]])]
    return kwargs
