"""Operator actions over SSH: checks, diagnostics, agent restart and install, host key pinning.

Every action is audited, whether it worked or not.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from audit.models import AuditSource, LogLevel
from audit.services import audit_log_record
from mgmt.exceptions import Conflict, ValidationFailed
from servers.clients.ssh import CommandResult, SSHSession, SSHTarget, fetch_host_key_fingerprint
from servers.models import Server

from .hosts import require_manage, validate_fingerprint
from .stats import server_stats_invalidate

# The only commands the diagnostic action runs: operators pick a name, never send a command line.
DIAGNOSTICS: dict[str, str] = {
    "uptime": "uptime",
    "disk": "df -hP",
    "memory": "free -m",
    "docker": "docker version",
    "agent-status": "systemctl status mgmt-agent --no-pager",
}


def _ssh_target(server: Server, *, with_fingerprint: bool = True) -> SSHTarget:
    if not server.ssh_user:
        raise Conflict(f"No SSH user is set for {server.name}.")
    return SSHTarget(
        name=server.name,
        host=server.address,
        port=server.ssh_port,
        user=server.ssh_user,
        fingerprint=server.ssh_host_key_fingerprint if with_fingerprint else "",
        private_key=server.ssh_private_key,
        password=server.ssh_password,
    )


def _ssh_run(*, actor: Any, server: Server, action: str, command: str, source: AuditSource) -> CommandResult:
    """Run one command over SSH and audit it, whether it worked or not."""
    require_manage(actor)
    target = _ssh_target(server)

    def record(level: str, **details: Any) -> None:
        audit_log_record(
            action=action,
            actor=actor,
            target=server,
            server_id=server.pk,
            source=source,
            level=level,
            details={"command": command, **details},
        )

    try:
        with SSHSession(target, connect_timeout=settings.SSH_CONNECT_TIMEOUT) as session:
            result = session.run(command, timeout=settings.SSH_COMMAND_TIMEOUT)
    except Exception as exc:
        record(LogLevel.ERROR, error=str(exc)[:500])
        raise
    level = LogLevel.INFO if result.exit_status == 0 else LogLevel.WARNING
    record(level, exit_status=result.exit_status, elapsed_ms=result.elapsed_ms)
    return result


def server_ssh_check(*, actor: Any, server: Server, source: AuditSource = AuditSource.API) -> CommandResult:
    return _ssh_run(actor=actor, server=server, action="server.ssh_check", command="true", source=source)


def server_ssh_diagnose(
    *, actor: Any, server: Server, check: str, source: AuditSource = AuditSource.API
) -> CommandResult:
    if check not in DIAGNOSTICS:
        raise ValidationFailed(f"check: choose one of {', '.join(sorted(DIAGNOSTICS))}.")
    return _ssh_run(
        actor=actor, server=server, action="server.ssh_diagnose", command=DIAGNOSTICS[check], source=source
    )


def server_agent_restart(
    *, actor: Any, server: Server, source: AuditSource = AuditSource.API
) -> CommandResult:
    result = _ssh_run(
        actor=actor,
        server=server,
        action="server.agent_restart",
        command=settings.SSH_AGENT_RESTART_COMMAND,
        source=source,
    )
    server_stats_invalidate(server.pk)
    return result


def server_agent_install(
    *, actor: Any, server: Server, source: AuditSource = AuditSource.API
) -> CommandResult:
    if not settings.SSH_AGENT_INSTALL_COMMAND:
        raise Conflict("SSH_AGENT_INSTALL_COMMAND is not configured.")
    return _ssh_run(
        actor=actor,
        server=server,
        action="server.agent_install",
        command=settings.SSH_AGENT_INSTALL_COMMAND,
        source=source,
    )


def server_ssh_pin_host_key(
    *, actor: Any, server: Server, expected: str = "", source: AuditSource = AuditSource.API
) -> Server:
    """Pin the host key the server presents now. With `expected`, only if it matches (no blind trust)."""
    require_manage(actor)
    expected = validate_fingerprint(expected)
    presented = fetch_host_key_fingerprint(
        _ssh_target(server, with_fingerprint=False), timeout=settings.SSH_CONNECT_TIMEOUT
    )
    if expected and expected != presented:
        audit_log_record(
            action="server.ssh_host_key_refused",
            actor=actor,
            target=server,
            server_id=server.pk,
            source=source,
            level=LogLevel.WARNING,
            details={"expected": expected, "presented": presented},
        )
        raise Conflict(f"{server.name} presents {presented}, not the expected {expected}; nothing pinned.")
    previous = server.ssh_host_key_fingerprint
    with transaction.atomic():
        Server.objects.filter(pk=server.pk).update(ssh_host_key_fingerprint=presented)
        server.ssh_host_key_fingerprint = presented
        audit_log_record(
            action="server.ssh_host_key_pinned",
            actor=actor,
            target=server,
            server_id=server.pk,
            source=source,
            level=LogLevel.WARNING if previous and previous != presented else LogLevel.INFO,
            details={"previous": previous, "pinned": presented, "checked_against_expected": bool(expected)},
        )
    return server
