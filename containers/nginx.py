"""The seed's NginxService (routes) and the edge's nginx configuration.

Routes: `add_user_route`, `remove_user_route` and `check_user_exists` keep the seed's
meaning (a person's VS Code and Jupyter upstreams), but a route is a row of `Route`, not
an nginx file: nginx learns the upstream from its (cached) auth subrequest, so adding,
moving or removing a route needs no reload and cannot break the running configuration.

Configuration: `render_platform_config` renders the one static server block for the
platform and every workspace host (templates/nginx/platform.conf) from validated values
only; `write_standalone_config` wraps it into a complete nginx.conf (make run, tests).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from loguru import logger

from mgmt.exceptions import ValidationFailed

from . import edge
from .models import PortHold, Route, Workspace

# Same rule as sign-up usernames; checked again here because this is where a name becomes
# part of a host name that nginx routes.
ROUTE_NAME_RE = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", re.ASCII)
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*", re.ASCII
)


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int

    def __post_init__(self) -> None:
        if not valid_upstream_host(self.host):
            raise ValidationFailed(f"Invalid upstream host {self.host!r}.")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValidationFailed(f"Invalid upstream port {self.port!r}.")


def valid_upstream_host(host: str) -> bool:
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME_RE.fullmatch(host))
    return True


def validate_route_name(username: str) -> str:
    if not isinstance(username, str) or not ROUTE_NAME_RE.fullmatch(username):
        raise ValidationFailed(f"Username {username!r} cannot be used in a route.")
    return username


# --- routes (the seed's NginxService) -----------------------------------------------------


def add_user_route(*, username: str, vscode: Upstream, jupyter: Upstream) -> Route:
    """Point the person's routes at these upstreams (create or update). Idempotent.

    nginx follows within EDGE_AUTH_CACHE_SECONDS; nothing is reloaded.
    """
    validate_route_name(username)
    workspace = Workspace.objects.filter(owner__username=username, name="default").first()
    with transaction.atomic():
        before = Route.objects.select_for_update().filter(username=username).first()
        if before is not None:
            ports_hold(_upstreams(before) - {(vscode.host, vscode.port), (jupyter.host, jupyter.port)})
        route, _ = Route.objects.update_or_create(
            username=username,
            defaults={
                "workspace": workspace,
                "vscode_host": vscode.host,
                "vscode_port": vscode.port,
                "jupyter_host": jupyter.host,
                "jupyter_port": jupyter.port,
            },
        )
    logger.info("Routes for {} point at {} and {}", username, vscode, jupyter)
    return route


def remove_user_route(*, username: str) -> bool:
    """Remove the person's routes; False when there were none."""
    validate_route_name(username)
    deleted = Route.objects.filter(username=username).delete()[0] > 0
    if deleted:
        logger.info("Routes for {} removed", username)
    return deleted


def _upstreams(route: Route) -> set[tuple[str, int]]:
    return {(route.vscode_host, route.vscode_port), (route.jupyter_host, route.jupyter_port)}


def port_hold_seconds() -> int:
    """How long a port a route left stays out of new workspaces' reach: nginx keeps a verify
    answer for EDGE_AUTH_CACHE_SECONDS, and serves it stale while a refresh is under way (its
    cache lock waits up to 5 s, the verify call up to its own timeout)."""
    return 2 * int(settings.EDGE_AUTH_CACHE_SECONDS) + 10


def ports_hold(upstreams: Iterable[tuple[str, int]]) -> None:
    """Keep these host ports from new workspaces until nginx can no longer hold them cached."""
    until = timezone.now() + timedelta(seconds=port_hold_seconds())
    holds = [PortHold(host=host, port=port, until=until) for host, port in sorted(set(upstreams))]
    if not holds:
        return
    # An upsert: two routes leaving the same port at once must not fail on the unique pair.
    target = ["host", "port"] if connection.features.supports_update_conflicts_with_target else None
    PortHold.objects.bulk_create(holds, update_conflicts=True, update_fields=["until"], unique_fields=target)


def ports_held() -> set[int]:
    """Ports some route left within port_hold_seconds(), on any host (few, and safe to skip)."""
    return set(PortHold.objects.filter(until__gt=timezone.now()).values_list("port", flat=True))


def port_holds_purge() -> int:
    return PortHold.objects.filter(until__lte=timezone.now()).delete()[0]


def route_deleted(sender: type[Route], instance: Route, **kwargs: object) -> None:
    """post_delete of a Route, however it goes (removed, or with its workspace or owner)."""
    ports_hold(_upstreams(instance))


def check_user_exists(*, username: str) -> bool:
    """Does the person have routes?"""
    return Route.objects.filter(username=validate_route_name(username)).exists()


def user_route(*, username: str) -> Route | None:
    return Route.objects.filter(username=username).first()


def list_routed_usernames() -> list[str]:
    """Names of every route (for the reconciler)."""
    return list(Route.objects.order_by("username").values_list("username", flat=True))


# --- the edge's configuration ----------------------------------------------------------------

_LISTEN_RE = re.compile(r"(?:(?:\d{1,3}\.){3}\d{1,3}:)?\d{1,5}", re.ASCII)
_BACKEND_RE = re.compile(r"[a-z0-9.-]+:\d{1,5}", re.ASCII)
_SERVER_NAME_RE = re.compile(r"_|[a-z0-9.*-]+( [a-z0-9.*-]+)*", re.ASCII)
_SIZE_RE = re.compile(r"\d+[kmg]?", re.ASCII)
_PATH_RE = re.compile(r"/[A-Za-z0-9._/-]+", re.ASCII)
_URL_RE = re.compile(r"https?://[a-z0-9.-]+(:\d{1,5})?", re.ASCII)
_RESOLVER_RE = re.compile(r"[0-9a-f.:\[\] ]+", re.ASCII)


def _check(name: str, pattern: re.Pattern[str], value: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationFailed(f"Invalid {name} {value!r}.")


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
        raise ValidationFailed(f"{name} must be a whole number from 1 to 100000.")
    return value


def _edge_context() -> dict[str, object]:
    """The values of the edge that come from settings, each validated before it is rendered."""
    platform = urlsplit(settings.PLATFORM_URL)
    platform_url = f"{platform.scheme}://{platform.netloc}"
    _check("PLATFORM_URL", _URL_RE, platform_url)
    domain = edge.workspace_domain()
    _check("WORKSPACE_DOMAIN", _HOSTNAME_RE, domain)
    ttl = int(settings.EDGE_AUTH_CACHE_SECONDS)
    if not 1 <= ttl <= 3600:
        raise ValidationFailed("EDGE_AUTH_CACHE_SECONDS must be between 1 and 3600.")
    resolver = settings.NGINX_RESOLVER
    if resolver:
        _check("NGINX_RESOLVER", _RESOLVER_RE, resolver)
    return {
        "platform_url": platform_url,
        # Workspace hosts share the platform's scheme and port.
        "platform_port": f":{platform.port}" if platform.port else "",
        "secure": platform.scheme == "https",
        "host_regex": edge.host_pattern(),
        "cookie_name": re.escape(settings.EDGE_COOKIE_NAME),
        "state_cookie": re.escape(settings.EDGE_STATE_COOKIE_NAME),
        "state_cookie_name": settings.EDGE_STATE_COOKIE_NAME,
        "link_secret": edge.link_secret(),
        "ttl": ttl,
        "resolver": resolver,
        "auth_rate": _positive("EDGE_AUTH_RATE", settings.EDGE_AUTH_RATE),
        "auth_burst": _positive("EDGE_AUTH_BURST", settings.EDGE_AUTH_BURST),
    }


def render_platform_config(
    *,
    listen: str,
    backend: str,
    server_name: str = "_",
    max_body_size: str = "64m",
    cache_dir: str = "/var/cache/nginx/mgmt-edge",
    tls_cert: str = "",
    tls_key: str = "",
    http_redirect: str = "",
) -> str:
    """The edge: the platform's server block and the workspace hosts' one, from validated values.

    With `tls_cert` and `tls_key` both servers speak HTTPS on `listen` (one certificate for the
    platform's name and the wildcard `*.WORKSPACE_DOMAIN`).
    """
    _check("listen", _LISTEN_RE, listen)
    if bool(tls_cert) != bool(tls_key):
        raise ValidationFailed("TLS needs both a certificate and its key.")
    for name, value in (("tls_cert", tls_cert), ("tls_key", tls_key)):
        if value:
            _check(name, _PATH_RE, value)
    if http_redirect:
        if not tls_cert:
            raise ValidationFailed("A redirect to HTTPS needs TLS (a certificate and its key).")
        _check("http_redirect", _LISTEN_RE, http_redirect)
    backends = [part.strip() for part in backend.split(",")]  # several web nodes: nginx balances
    for one in backends:
        _check("backend", _BACKEND_RE, one)
    _check("server_name", _SERVER_NAME_RE, server_name)
    _check("max_body_size", _SIZE_RE, max_body_size)
    _check("cache_dir", _PATH_RE, cache_dir)
    return render_to_string(
        "nginx/platform.conf",
        {
            "listen": listen,
            "backends": backends,
            "server_name": server_name,
            "max_body_size": max_body_size,
            "cache_dir": cache_dir,
            "tls_cert": tls_cert,
            "tls_key": tls_key,
            "http_redirect": http_redirect,
            **_edge_context(),
        },
    )


def write_standalone_config(*, prefix: Path, **server: str) -> Path:
    """A complete nginx.conf under `prefix` (single-machine stack, tests); returns its path.

    The files hold the edge's link secret, so they are readable by their owner only.
    """
    prefix = prefix.resolve()
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "edge-cache"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    platform_conf = prefix / "platform.conf"
    platform_conf.write_text(render_platform_config(cache_dir=str(prefix / "edge-cache"), **server))
    platform_conf.chmod(0o600)
    main_conf = prefix / "nginx.conf"
    main_conf.write_text(
        render_to_string(
            "nginx/standalone.conf",
            {
                "prefix": prefix,
                "platform_conf": platform_conf,
                # Only root's nginx switches users; for root, stay root (the prefix may be private).
                "user": "root" if os.geteuid() == 0 else "",
            },
        )
    )
    return main_conf
