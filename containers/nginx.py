"""Per-user nginx route files (the original's NginxService).

One file per user, `<NGINX_ROUTES_DIR>/<username>.conf`, holding the
`/<username>/vscode/` and `/<username>/jupyter/` locations. Every value is
validated by an allowlist before it is rendered. A change is written
atomically (temporary file + rename), checked with the configured test
command (`nginx -t`) and applied with the reload command; when either fails
the previous file is put back, so disk and the running nginx keep the old
configuration, and `NginxError` says what nginx answered.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from loguru import logger

from mgmt.exceptions import UpstreamUnavailable, ValidationFailed

# Same rule as sign-up usernames; checked again here because this is where a
# name becomes part of a file name and an nginx location.
ROUTE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_COMMAND_TIMEOUT = 30


class NginxError(UpstreamUnavailable):
    """nginx refused the new configuration or could not be reloaded."""


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int

    def __post_init__(self) -> None:
        if not _valid_host(self.host):
            raise ValidationFailed(f"Invalid upstream host {self.host!r}.")
        if not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValidationFailed(f"Invalid upstream port {self.port!r}.")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME_RE.match(host))
    return ":" not in host  # IPv6 would need brackets in proxy_pass; hosts use IPv4 or names


def validate_route_name(username: str) -> str:
    if not isinstance(username, str) or not ROUTE_NAME_RE.match(username):
        raise ValidationFailed(f"Username {username!r} cannot be used in a route.")
    return username


def routes_dir() -> Path:
    return Path(settings.NGINX_ROUTES_DIR)


def route_path(username: str) -> Path:
    return routes_dir() / f"{validate_route_name(username)}.conf"


def render_user_routes(*, username: str, vscode: Upstream, jupyter: Upstream) -> str:
    validate_route_name(username)
    return render_to_string(
        "nginx/user_routes.conf", {"username": username, "vscode": vscode, "jupyter": jupyter}
    )


@contextmanager
def _routes_lock() -> Iterator[None]:
    """Serialize route changes on this host: one write-test-reload at a time."""
    directory = routes_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, content: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _run(command: str, what: str) -> None:
    try:
        result = subprocess.run(  # noqa: S603 (argv from settings, no shell)
            shlex.split(command), capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NginxError(f"nginx {what} could not run: {exc}") from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        reason = output[-1] if output else f"exit status {result.returncode}"
        raise NginxError(f"nginx {what} failed: {reason}")


def _apply(path: Path, new_content: str | None) -> None:
    """Put `new_content` at `path` (None removes it), test, reload; undo on failure."""
    previous = path.read_text() if path.exists() else None
    if new_content == previous:
        return  # idempotent: nothing to change, no reload
    if new_content is None:
        path.unlink()
    else:
        _write_atomically(path, new_content)
    try:
        _run(settings.NGINX_TEST_COMMAND, "configuration test")
        _run(settings.NGINX_RELOAD_COMMAND, "reload")
    except NginxError:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            _write_atomically(path, previous)
        logger.warning("Route change for {} undone; previous configuration kept", path.name)
        raise


def add_user_route(*, username: str, vscode: Upstream, jupyter: Upstream) -> Path:
    """Write (or rewrite) the user's routes and reload nginx. Idempotent."""
    content = render_user_routes(username=username, vscode=vscode, jupyter=jupyter)
    path = route_path(username)
    with _routes_lock():
        _apply(path, content)
    logger.info("Routes for {} point at {} and {}", username, vscode, jupyter)
    return path


def remove_user_route(*, username: str) -> bool:
    """Remove the user's routes and reload nginx; False when there were none."""
    path = route_path(username)
    with _routes_lock():
        if not path.exists():
            return False
        _apply(path, None)
    logger.info("Routes for {} removed", username)
    return True


def check_user_exists(*, username: str) -> bool:
    """Does a route file exist for this user?"""
    return route_path(username).exists()


def list_routed_usernames() -> list[str]:
    """Names of every route file (for the reconciler); files of other shapes are ignored."""
    names = (p.stem for p in routes_dir().glob("*.conf"))
    return sorted(name for name in names if ROUTE_NAME_RE.match(name))


_LISTEN_RE = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}:)?\d{1,5}$")
_BACKEND_RE = re.compile(r"^[a-z0-9.-]+:\d{1,5}$")
_SERVER_NAME_RE = re.compile(r"^(_|[a-z0-9.*-]+( [a-z0-9.*-]+)*)$")
_SIZE_RE = re.compile(r"^\d+[kmg]?$")


def render_platform_config(
    *, listen: str, backend: str, server_name: str = "_", max_body_size: str = "64m"
) -> str:
    """The platform's server block, from validated values only."""
    checks = {
        "listen": (_LISTEN_RE, listen),
        "backend": (_BACKEND_RE, backend),
        "server_name": (_SERVER_NAME_RE, server_name),
        "max_body_size": (_SIZE_RE, max_body_size),
    }
    for name, (pattern, value) in checks.items():
        if not pattern.match(value):
            raise ValidationFailed(f"Invalid {name} {value!r}.")
    return render_to_string(
        "nginx/platform.conf",
        {
            "listen": listen,
            "backend": backend,
            "server_name": server_name,
            "max_body_size": max_body_size,
            "routes_dir": routes_dir().resolve(),
        },
    )


def write_standalone_config(*, prefix: Path, **server: str) -> Path:
    """A complete nginx.conf under `prefix` (single-machine stack, tests); returns its path."""
    prefix = prefix.resolve()
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    platform_conf = prefix / "platform.conf"
    platform_conf.write_text(render_platform_config(**server))
    main_conf = prefix / "nginx.conf"
    main_conf.write_text(
        render_to_string("nginx/standalone.conf", {"prefix": prefix, "platform_conf": platform_conf})
    )
    return main_conf
