"""The workspace edge: each workspace app on its own origin, entered through a handshake.

    browser  GET http://ada--vscode.localhost:8080/x            (no edge cookie)
    nginx    302 PLATFORM_URL/edge/authorize?host=…&next=/x     (+ a state cookie on that host)
    platform logged in? (else /login) allowed? → a ticket: one use, this host, seconds
             302 http://ada--vscode.localhost:8080/_edge/callback?ticket=…&next=/x
    callback ticket + state cookie → an edge session → HttpOnly cookie on that host → 302 /x
    then     nginx asks /edge/verify once per cookie and host per EDGE_AUTH_CACHE_SECONDS; the
             answer carries the upstream, so routes need no nginx reload.

The platform's session cookie is host-only on PLATFORM_URL and never reaches a workspace
host; nginx strips the edge cookie and `Authorization` before proxying, so a container never
holds a credential of the platform. The edge cookie also carries an MD5 `secure_link` stamp
that nginx checks itself, so forged cookies are refused without reaching Django; the
authoritative check is the hashed edge session here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.models import UserSession, UserStatus
from accounts.permissions import has_permission
from accounts.tokens import token_hash, token_new
from audit.services import audit_log_record
from mgmt.db import atomic_retry
from mgmt.exceptions import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed

from .models import EdgeSession, EdgeTicket, Workspace, WorkspaceStatus

APPS = ("vscode", "jupyter")
APP_LABELS = {"vscode": "VS Code", "jupyter": "Jupyter"}
_USERNAME = r"[a-z][a-z0-9-]{1,30}[a-z0-9]"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_COOKIE_RE = re.compile(r"(?P<token>[A-Za-z0-9_-]{43})\.(?P<exp>[0-9]{1,12})\.(?P<sig>[A-Za-z0-9_-]{22})")
_STATE_RE = re.compile(r"[0-9a-f]{32}")  # nginx's $request_id
_MAX_NEXT = 2048


# --- addresses ---------------------------------------------------------------------------


def _platform() -> tuple[str, str]:
    """(scheme, ":port" or "") of PLATFORM_URL: workspace hosts are served alongside it."""
    parts = urlsplit(settings.PLATFORM_URL)
    return parts.scheme, f":{parts.port}" if parts.port else ""


def workspace_domain() -> str:
    return settings.WORKSPACE_DOMAIN


def host_pattern() -> str:
    """The workspace host names as a regular expression (also rendered into nginx's server_name)."""
    return rf"^(?P<ws_user>{_USERNAME})--(?P<ws_app>vscode|jupyter)\.{re.escape(workspace_domain())}$"


def workspace_host(username: str, app: str) -> str:
    if app not in APPS:
        raise ValidationFailed(f"Unknown workspace app {app!r}.")
    return f"{username}--{app}.{workspace_domain()}"


def workspace_url(username: str, app: str, path: str = "/") -> str:
    scheme, port = _platform()
    return f"{scheme}://{workspace_host(username, app)}{port}{path}"


def host_parse(host: str | None) -> tuple[str, str] | None:
    """(username, app) of a workspace host name (without its port); None for anything else."""
    # ASCII before lower(): "K" (the Kelvin sign) would fold to "k" and pass as someone's name.
    if not host or len(host) > 253 or not host.isascii():
        return None
    match = re.fullmatch(host_pattern(), host.lower(), flags=re.ASCII)
    return (match["ws_user"], match["ws_app"]) if match else None


def next_path_clean(value: str | None) -> str:
    """A same-origin path to return to after the handshake; "/" for anything else."""
    if not value or len(value) > _MAX_NEXT or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in value):
        return "/"
    return value


# --- the cookie's nginx stamp --------------------------------------------------------------


def link_secret() -> str:
    """The key nginx's secure_link checks the cookie stamp with (derived from SECRET_KEY)."""
    return salted_hmac("containers.edge.link", "nginx", algorithm="sha256").hexdigest()[:40]


def _stamp(token: str, expires: int, host: str) -> str:
    # The expression nginx evaluates: secure_link_md5 "$edge_exp$edge_token$host <secret>".
    digest = hashlib.md5(f"{expires}{token}{host} {link_secret()}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cookie_value(token: str, expires: int, host: str) -> str:
    return f"{token}.{expires}.{_stamp(token, expires, host)}"


def cookie_token(value: str | None, host: str) -> str | None:
    """The edge token of a cookie whose stamp is right for `host` and not expired; else None."""
    match = _COOKIE_RE.fullmatch(value or "")
    if match is None or int(match["exp"]) < time.time():
        return None
    expected = _stamp(match["token"], int(match["exp"]), host)
    return match["token"] if hmac.compare_digest(expected, match["sig"]) else None


# --- the handshake -------------------------------------------------------------------------


def _workspace_at(username: str) -> Workspace:
    workspace = (
        Workspace.objects.select_related("owner")
        .filter(owner__username=username, name="default")
        .exclude(status=WorkspaceStatus.DELETING)
        .first()
    )
    if workspace is None:
        raise NotFound("There is no workspace at this address.")
    return workspace


def _may_enter(*, user_id: int, user_type: str, owner_id: int) -> bool:
    """The owner; whoever manages workspaces (admins) only while WORKSPACE_ADMIN_ACCESS is on (as in
    JupyterHub)."""
    return user_id == owner_id or (
        bool(settings.WORKSPACE_ADMIN_ACCESS) and has_permission(user_type, "manage_workspaces")
    )


def edge_ticket_issue(*, session: UserSession, host: str, next_path: str, state: str) -> str:
    """A ticket for `host`, for the person of a live platform session; PermissionDenied when
    the workspace is not theirs. An admin's entry (WORKSPACE_ADMIN_ACCESS) is audited."""
    parsed = host_parse(host)
    if parsed is None:
        raise ValidationFailed("This is not a workspace address.")
    if not _STATE_RE.fullmatch(state or ""):
        raise ValidationFailed("The handshake has no state; open the workspace address again.")
    workspace = _workspace_at(parsed[0])
    user = session.user
    if not _may_enter(user_id=user.pk, user_type=user.user_type, owner_id=workspace.owner_id):
        raise PermissionDenied("This workspace is not yours.")
    token, digest = token_new()
    with transaction.atomic():
        EdgeTicket.objects.create(
            token_hash=digest,
            state_hash=token_hash(state),
            host=host.lower(),
            session=session,
            workspace=workspace,
            next_path=next_path_clean(next_path),
            expires_at=timezone.now() + timedelta(seconds=settings.EDGE_TICKET_SECONDS),
        )
        if user.pk != workspace.owner_id:
            audit_log_record(
                action="workspace.admin_access",
                actor=user,
                target=workspace,
                server_id=workspace.server_id,
                details={"owner": workspace.owner.username, "app": parsed[1]},
            )
    return token


def callback_url(*, host: str, ticket: str, next_path: str) -> str:
    scheme, port = _platform()
    query = urlencode({"ticket": ticket, "next": next_path_clean(next_path)})
    return f"{scheme}://{host}{port}/_edge/callback?{query}"


@dataclass(frozen=True)
class EdgeCookie:
    value: str
    max_age: int
    next_path: str


def edge_ticket_redeem(*, ticket: str | None, host: str, state: str | None) -> EdgeCookie:
    """Trade a ticket for the host's own cookie: once, on the host it was made for, within
    EDGE_TICKET_SECONDS, in the browser that started the handshake, while its session lives."""
    refused = PermissionDenied("This sign-in link is invalid or used up; open the workspace again.")
    if not ticket or not _TOKEN_RE.fullmatch(ticket):
        raise refused
    found = EdgeTicket.objects.select_related("session").filter(token_hash=token_hash(ticket)).first()
    # Delete first: whatever follows, a ticket is good for one try only.
    if found is None or EdgeTicket.objects.filter(pk=found.pk).delete()[0] != 1:
        raise refused
    session = found.session
    if (
        found.expires_at <= timezone.now()
        or not hmac.compare_digest(found.host, host.lower())
        or not hmac.compare_digest(found.state_hash, token_hash(state or ""))
        or not session.is_active
        or session.expires_at <= timezone.now()
    ):
        raise refused
    token, digest = token_new()
    expires = session.expires_at
    # Its foreign keys share-lock the person and the workspace, which marking the workspace
    # active locks the other way round: a deadlock victim is inserted again (issue #14).
    atomic_retry(
        lambda: EdgeSession.objects.create(
            token_hash=digest,
            host=found.host,
            user_id=session.user_id,
            session=session,
            workspace_id=found.workspace_id,
            expires_at=expires,
        )
    )
    expiry = int(expires.timestamp())
    return EdgeCookie(
        value=cookie_value(token, expiry, found.host),
        max_age=max(expiry - int(time.time()), 0),
        next_path=found.next_path,
    )


def edge_tickets_purge() -> int:
    return EdgeTicket.objects.filter(expires_at__lt=timezone.now()).delete()[0]


def edge_sessions_purge() -> int:
    return EdgeSession.objects.filter(expires_at__lt=timezone.now()).delete()[0]


# --- per request (nginx's cached auth subrequest) -------------------------------------------


class NotRoutedYet(PermissionDenied):
    """403, but a passing state: nginx must not keep this answer (the route comes in seconds)."""


@dataclass(frozen=True)
class EdgeAnswer:
    user_id: int
    username: str
    owner_id: int
    owner_username: str
    upstream: str  # "host:port" ("[v6]:port"), for nginx's proxy_pass


def upstream_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_VERIFY_FIELDS = (
    "host",
    "user_id",
    "user__username",
    "user__user_type",
    "workspace__owner_id",
    "workspace__owner__username",
    "workspace__route__vscode_host",
    "workspace__route__vscode_port",
    "workspace__route__jupyter_host",
    "workspace__route__jupyter_port",
)


def edge_verify(*, cookie: str | None, host: str) -> EdgeAnswer:
    """Who may pass on `host` with this cookie, and where to: NotAuthenticated (401) or
    PermissionDenied (403) otherwise. One query on the indexed token hash, the few columns
    it needs (the hot path: nginx asks once per cookie and host per TTL)."""
    parsed = host_parse(host)
    token = cookie_token(cookie, host.lower()) if parsed else None
    if parsed is None or token is None:
        raise NotAuthenticated("Sign in to open this workspace.")
    now = timezone.now()
    row = (
        EdgeSession.objects.filter(
            token_hash=token_hash(token),
            expires_at__gt=now,
            session__is_active=True,
            session__expires_at__gt=now,
            user__is_active=True,
            user__status=UserStatus.ACTIVE,
        )
        .order_by()
        .values_list(*_VERIFY_FIELDS)[:1]
    )
    found = dict(zip(_VERIFY_FIELDS, row[0], strict=True)) if row else None
    if found is None or not hmac.compare_digest(found["host"], host.lower()):
        raise NotAuthenticated("Sign in to open this workspace.")
    owner_id, username, app = found["workspace__owner_id"], found["workspace__owner__username"], parsed[1]
    if username != parsed[0] or not _may_enter(
        user_id=found["user_id"], user_type=found["user__user_type"], owner_id=owner_id
    ):
        raise PermissionDenied("This workspace is not yours.")
    if found[f"workspace__route__{app}_host"] is None:
        raise NotRoutedYet("This workspace has no route yet (it is being provisioned, or it failed).")
    upstream = upstream_text(found[f"workspace__route__{app}_host"], found[f"workspace__route__{app}_port"])
    return EdgeAnswer(
        user_id=found["user_id"],
        username=found["user__username"],
        owner_id=owner_id,
        owner_username=username,
        upstream=upstream,
    )
