"""The agent's configuration, read once from the environment and validated.

A plain frozen dataclass so that the policy and Docker modules take it as an
argument (and tests can build one) without Django settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

LABEL_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
MIN_MEMORY_BYTES = 6 * 1024**2  # the Docker Engine refuses less


class ConfigError(Exception):
    """The environment does not describe a usable agent; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid agent configuration: " + "; ".join(problems))


def parse_size(value: str | int) -> int:
    """Bytes from `2g`, `512m`, `1.5GiB` or a plain number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size (e.g. 512m, 2g or bytes)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


WORKSPACE_USER_RE = re.compile(r"(?P<uid>[0-9]{1,9}):(?P<gid>[0-9]{1,9})", re.ASCII)


@dataclass(frozen=True)
class AgentConfig:
    secret: str
    bind: str = "127.0.0.1"
    port: int = 5005
    docker_host: str = ""  # empty: DOCKER_HOST or the local socket, as the docker SDK decides
    docker_timeout: int = 60
    workspace_root: str = "/srv/workspaces"
    # What a new workspace folder starts as (copied); empty: an empty folder.
    workspace_template: str = ""
    workspace_mount: str = "/workspace"
    label_prefix: str = "mgmt"
    publish_address: str = "127.0.0.1"
    default_cpus: float = 1.0
    default_memory: int = 2 * 1024**3
    max_cpus: float = 0.0  # 0: the host's CPU count
    max_memory: int = 0  # 0: the host's memory
    pids_limit: int = 4096
    restart_policy: str = "unless-stopped"
    # The one user a create request may ask its container to run as ("uid:gid", never root):
    # the workspace user that owns the folders. A request without one gets the image's user.
    workspace_user: str = "1000:1000"
    signature_window: int = 60
    max_body_bytes: int = 20 * 1024**3

    @property
    def managed_label(self) -> str:
        return f"{self.label_prefix}.managed"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgentConfig:
        env = os.environ if env is None else env
        problems: list[str] = []
        values: dict[str, object] = {}

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        secret = get("AGENT_SECRET")
        if not secret:
            problems.append("AGENT_SECRET: required (the host's shared secret)")
        elif len(secret) < 16:
            problems.append("AGENT_SECRET: must be at least 16 characters")
        values["secret"] = secret or ""

        for name, field, kind in (
            ("AGENT_PORT", "port", "port"),
            ("AGENT_DOCKER_TIMEOUT", "docker_timeout", "positive"),
            ("AGENT_PIDS_LIMIT", "pids_limit", "positive"),
            ("AGENT_SIGNATURE_WINDOW", "signature_window", "positive"),
        ):
            raw = get(name)
            if raw is None:
                continue
            if not raw.isdigit():
                problems.append(f"{name}: {raw!r} is not a whole number")
            elif kind == "port" and not 1 <= int(raw) <= 65535:
                problems.append(f"{name}: {raw} is outside 1-65535")
            elif int(raw) <= 0:
                problems.append(f"{name}: must be positive")
            else:
                values[field] = int(raw)

        for name, field in (("AGENT_BIND", "bind"), ("AGENT_PUBLISH_ADDRESS", "publish_address")):
            raw = get(name)
            if raw is None:
                continue
            try:
                ipaddress.ip_address(raw)
            except ValueError:
                problems.append(f"{name}: {raw!r} is not an IP address")
            else:
                values[field] = raw
        if env.get("AGENT_PUBLISH_ADDRESS", "").strip() in ("0.0.0.0", "::"):  # noqa: S104
            problems.append("AGENT_PUBLISH_ADDRESS: must not be every interface; workspaces go through nginx")

        if docker_host := get("AGENT_DOCKER_HOST"):
            values["docker_host"] = docker_host

        # The seed's WORKDIR_DEPLOY and WORKDIR_TEMPLATE are read too: the folders are the agent's.
        root = get("AGENT_WORKSPACE_ROOT") or get("WORKDIR_DEPLOY")
        if root is not None:
            if not os.path.isabs(root):
                problems.append(f"AGENT_WORKSPACE_ROOT: {root!r} is not an absolute path")
            else:
                values["workspace_root"] = os.path.realpath(root)
        template = get("AGENT_WORKSPACE_TEMPLATE") or get("WORKDIR_TEMPLATE")
        if template is not None:
            if not os.path.isabs(template):
                problems.append(f"AGENT_WORKSPACE_TEMPLATE: {template!r} is not an absolute path")
            elif not os.path.isdir(template):
                problems.append(f"AGENT_WORKSPACE_TEMPLATE: {template} is not a directory")
            else:
                values["workspace_template"] = os.path.realpath(template)
        mount = get("AGENT_WORKSPACE_MOUNT")
        if mount is not None:
            if not mount.startswith("/") or ".." in mount.split("/"):
                problems.append(f"AGENT_WORKSPACE_MOUNT: {mount!r} is not an absolute container path")
            else:
                values["workspace_mount"] = mount

        prefix = get("AGENT_LABEL_PREFIX")
        if prefix is not None:
            if not LABEL_PREFIX_RE.match(prefix):
                problems.append(
                    f"AGENT_LABEL_PREFIX: {prefix!r} must be lower-case letters, digits and '-' (max 31)"
                )
            else:
                values["label_prefix"] = prefix

        for name, field in (("AGENT_DEFAULT_CPUS", "default_cpus"), ("AGENT_MAX_CPUS", "max_cpus")):
            raw = get(name)
            if raw is None:
                continue
            try:
                number = float(raw)
            except ValueError:
                problems.append(f"{name}: {raw!r} is not a number")
                continue
            if number < 0 or (field == "default_cpus" and number == 0):
                problems.append(f"{name}: must be positive")
            else:
                values[field] = number

        for name, field in (
            ("AGENT_DEFAULT_MEMORY", "default_memory"),
            ("AGENT_MAX_MEMORY", "max_memory"),
            ("AGENT_MAX_BODY", "max_body_bytes"),
        ):
            raw = get(name)
            if raw is None:
                continue
            try:
                values[field] = parse_size(raw)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        default_memory = values.get("default_memory", cls.default_memory)
        if isinstance(default_memory, int) and default_memory < MIN_MEMORY_BYTES:
            problems.append("AGENT_DEFAULT_MEMORY: must be at least 6m")

        policy = get("AGENT_RESTART_POLICY")
        if policy is not None:
            if policy not in RESTART_POLICIES:
                problems.append(f"AGENT_RESTART_POLICY: must be one of {', '.join(RESTART_POLICIES)}")
            else:
                values["restart_policy"] = policy

        user = get("AGENT_WORKSPACE_USER")
        if user is not None:
            match = WORKSPACE_USER_RE.fullmatch(user)
            if not match or int(match["uid"]) == 0:
                problems.append(f"AGENT_WORKSPACE_USER: {user!r} must be uid:gid, numbers, not root")
            else:
                values["workspace_user"] = user

        if problems:
            raise ConfigError(problems)
        return cls(**values)  # type: ignore[arg-type]
