"""Registering, changing, draining and deleting Docker hosts, and the rules their fields follow."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.permissions import user_has_permission
from audit.models import AuditSource, LogLevel
from audit.services import audit_log_record
from mgmt.exceptions import Conflict, PermissionDenied, ValidationFailed
from servers.models import Server, ServerStatus
from servers.selectors import server_dependents

from .stats import server_stats_invalidate, servers_poll

# Always fullmatch, ASCII only: `$` lets a trailing newline through, and IGNORECASE without
# re.ASCII lets look-alikes match [a-z] (long s U+017F, dotless i U+0131, Kelvin sign U+212A).
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}", re.ASCII)
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?", re.IGNORECASE | re.ASCII
)
_LABEL_KEY_RE = re.compile(r"[a-z0-9][a-z0-9._/-]{0,62}", re.IGNORECASE | re.ASCII)
_FINGERPRINT_RE = re.compile(r"SHA256:[A-Za-z0-9+/]{43}", re.ASCII)
_SSH_USER_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}", re.IGNORECASE | re.ASCII)

# Fields an update may change; secrets are replaced only when a new value is given.
_PLAIN_FIELDS = ("name", "address", "agent_port", "agent_tls", "ssh_user", "ssh_port", "labels")
_SECRET_FIELDS = ("agent_secret", "ssh_private_key", "ssh_password")


# --- validation ---------------------------------------------------------------------
def validate_server_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValidationFailed(
            "name: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return name


def validate_address(address: str) -> str:
    """An IP address or a DNS name; nothing that could add a scheme, a port, a path or credentials.

    Nothing is stripped: surrounding spaces or a trailing newline are refused, not mended. A zone
    index ("fe80::1%eth0") names an interface of this host, so it is refused too.
    """
    if not isinstance(address, str):
        raise ValidationFailed("address: must be a string.")
    try:
        if "%" not in address:
            return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    if not _HOSTNAME_RE.fullmatch(address):
        raise ValidationFailed(f"address: {address[:80]!r} is neither an IP address nor a host name.")
    return address.lower().rstrip(".")


def validate_port(port: Any, field: str) -> int:
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field}: {port!r} is not a port number.") from None
    if not 1 <= value <= 65535:
        raise ValidationFailed(f"{field}: {value} is outside 1-65535.")
    return value


def validate_labels(labels: Any) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict) or len(labels) > 50:
        raise ValidationFailed("labels: give an object of at most 50 string keys and values.")
    for key, value in labels.items():
        if not _LABEL_KEY_RE.fullmatch(str(key)) or not isinstance(value, str) or len(value) > 255:
            raise ValidationFailed(f"labels: {str(key)[:40]!r} is not a valid label (name and text value).")
    return dict(labels)


def validate_fingerprint(fingerprint: str) -> str:
    fingerprint = fingerprint or ""
    if fingerprint and not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise ValidationFailed('ssh_host_key_fingerprint: expected "SHA256:" and 43 base64 characters.')
    return fingerprint


def validate_ssh_user(user: str) -> str:
    if user and not (isinstance(user, str) and _SSH_USER_RE.fullmatch(user)):
        raise ValidationFailed("ssh_user: not a valid user name.")
    return user


def _validated(fields: dict[str, Any]) -> dict[str, Any]:
    clean = dict(fields)
    if "name" in clean:
        clean["name"] = validate_server_name(clean["name"])
    if "address" in clean:
        clean["address"] = validate_address(clean["address"])
    if "agent_port" in clean:
        clean["agent_port"] = validate_port(clean["agent_port"], "agent_port")
    if "ssh_port" in clean:
        clean["ssh_port"] = validate_port(clean["ssh_port"], "ssh_port")
    if "ssh_user" in clean:
        clean["ssh_user"] = validate_ssh_user(clean["ssh_user"])
    if "labels" in clean:
        clean["labels"] = validate_labels(clean["labels"])
    if "ssh_host_key_fingerprint" in clean:
        clean["ssh_host_key_fingerprint"] = validate_fingerprint(clean["ssh_host_key_fingerprint"])
    if "agent_secret" in clean and clean["agent_secret"] and len(clean["agent_secret"]) < 16:
        raise ValidationFailed("agent_secret: use at least 16 characters.")
    return clean


def require_manage(actor: Any) -> None:
    """Commands and tasks act as the system (actor None); people need manage_servers."""
    if actor is not None and not user_has_permission(actor, "manage_servers"):
        raise PermissionDenied("Only admins may register or change servers.")


# --- register, update, drain, delete ----------------------------------------------------
def _ensure_unique(*, name: str, address: str, agent_port: int, exclude_pk: int | None = None) -> None:
    """One server per name and one per agent address; a clash is a clear 409."""
    others = Server.objects.exclude(pk=exclude_pk) if exclude_pk else Server.objects.all()
    if others.filter(name=name).exists():
        raise Conflict(f"A server named {name!r} is already registered.")
    if others.filter(address=address, agent_port=agent_port).exists():
        raise Conflict(f"An agent at {address}:{agent_port} is already registered.")


@transaction.atomic
def server_register(
    *,
    actor: Any,
    name: str,
    address: str,
    agent_secret: str,
    agent_port: int | None = None,
    agent_tls: bool = False,
    ssh_user: str = "",
    ssh_port: int = 22,
    ssh_private_key: str = "",
    ssh_password: str = "",
    ssh_host_key_fingerprint: str = "",
    labels: dict[str, str] | None = None,
    source: AuditSource = AuditSource.API,
) -> Server:
    require_manage(actor)
    if not agent_secret:
        raise ValidationFailed("agent_secret: the agent's shared secret is required.")
    fields = _validated(
        {
            "name": name,
            "address": address,
            "agent_port": settings.AGENT_PORT if agent_port is None else agent_port,
            "agent_tls": bool(agent_tls),
            "agent_secret": agent_secret,
            "ssh_user": ssh_user,
            "ssh_port": ssh_port,
            "ssh_private_key": ssh_private_key,
            "ssh_password": ssh_password,
            "ssh_host_key_fingerprint": ssh_host_key_fingerprint,
            "labels": labels or {},
        }
    )
    _ensure_unique(name=fields["name"], address=fields["address"], agent_port=fields["agent_port"])
    server = Server.objects.create(**fields)
    audit_log_record(
        action="server.registered",
        actor=actor,
        target=server,
        server_id=server.pk,
        source=source,
        details={"address": server.address, "agent_port": server.agent_port, "labels": server.labels},
    )
    return server


@transaction.atomic
def server_update(
    *, actor: Any, server: Server, source: AuditSource = AuditSource.API, **changes: Any
) -> Server:
    require_manage(actor)
    unknown = set(changes) - set(_PLAIN_FIELDS) - set(_SECRET_FIELDS) - {"ssh_host_key_fingerprint"}
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    # An empty secret means "keep the stored one"; clearing is done with the explicit flags below.
    changes = {k: v for k, v in changes.items() if not (k in _SECRET_FIELDS and v in ("", None))}
    clean = _validated(changes)
    server = Server.objects.select_for_update().get(pk=server.pk)
    _ensure_unique(
        name=clean.get("name", server.name),
        address=clean.get("address", server.address),
        agent_port=clean.get("agent_port", server.agent_port),
        exclude_pk=server.pk,
    )
    changed = []
    for key, value in clean.items():
        if getattr(server, key) != value:
            setattr(server, key, value)
            changed.append(key)
    if changed:
        server.save()
        server_stats_invalidate(server.pk)
        audit_log_record(
            action="server.updated",
            actor=actor,
            target=server,
            server_id=server.pk,
            source=source,
            # Names of the changed fields only: secret values never reach the log.
            details={"changed": changed},
        )
    return server


@transaction.atomic
def server_drain(
    *, actor: Any, server: Server, drain: bool = True, source: AuditSource = AuditSource.API
) -> Server:
    """Draining: no new workspaces go to the server; existing ones keep running."""
    require_manage(actor)
    server = Server.objects.select_for_update().get(pk=server.pk)
    if drain and server.status == ServerStatus.DRAINING:
        return server
    if not drain and server.status != ServerStatus.DRAINING:
        return server
    # Undraining: offline until the next poll (or the refresh just below) says otherwise.
    server.status = ServerStatus.DRAINING if drain else ServerStatus.OFFLINE
    server.status_detail = "Drained by an operator." if drain else "Waiting for the next check."
    server.save(update_fields=["status", "status_detail", "updated_at"])
    audit_log_record(
        action="server.drained" if drain else "server.undrained",
        actor=actor,
        target=server,
        server_id=server.pk,
        source=source,
    )
    if not drain:
        transaction.on_commit(lambda: servers_poll(server_ids=[server.pk]))
    return server


@dataclass(frozen=True)
class DeleteOutcome:
    server_name: str
    left_behind: dict[str, list[str]]


@transaction.atomic
def server_delete(
    *, actor: Any, server: Server, force: bool = False, source: AuditSource = AuditSource.API
) -> DeleteOutcome:
    """Delete a server; refused while something lives on it, unless forced (which says what stays)."""
    if actor is not None and not user_has_permission(actor, "delete_server"):
        raise PermissionDenied("Only admins may delete servers.")
    server = Server.objects.select_for_update().get(pk=server.pk)
    dependents = server_dependents(server=server)
    if dependents and not force:
        summary = "; ".join(
            f"{len(items)} {kind}: {', '.join(items[:10])}" for kind, items in dependents.items()
        )
        raise Conflict(
            f"Server {server.name} still has {summary}. Move or delete them, or delete with force=true.",
            details={"dependents": dependents},
        )
    name, pk = server.name, server.pk
    audit_log_record(
        action="server.deleted",
        actor=actor,
        target=server,
        server_id=pk,
        source=source,
        level=LogLevel.WARNING if dependents else LogLevel.INFO,
        details={"forced": force, "left_behind": dependents},
    )
    server.delete()
    transaction.on_commit(lambda: server_stats_invalidate(pk))
    return DeleteOutcome(server_name=name, left_behind=dependents)
