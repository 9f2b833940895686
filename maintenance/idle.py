"""Stop workspaces nobody uses: no request through their routes and no CPU use for a while."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from audit.models import AuditSource
from audit.services import audit_log_record
from containers import services as workspace_services
from containers.models import RouteActivity, Workspace, WorkspaceStatus
from mgmt.exceptions import ApplicationError
from servers.clients.agent import AgentClient

from .services import CleanupReport


def idle_reason(minutes: int) -> str:
    return (
        f"Stopped after {minutes} minutes without use (no request through its routes and no CPU use). "
        "Start it again to continue; your files are kept."
    )


def workspaces_stop_idle(*, dry_run: bool = False, now: datetime | None = None) -> CleanupReport:
    """Stop active workspaces idle for WORKSPACE_IDLE_STOP_MINUTES; the owner sees the reason on it.

    Idle: no request through the routes since the cutoff (recorded by /api/auth/verify), no
    start or change since then either, and the agent reports CPU use under WORKSPACE_IDLE_CPU_PERCENT.
    A workspace whose agent does not answer is left running and reported.
    """
    minutes = settings.WORKSPACE_IDLE_STOP_MINUTES
    report = CleanupReport(job="idle-workspaces", dry_run=dry_run)
    if minutes <= 0:
        report.note = "off (WORKSPACE_IDLE_STOP_MINUTES=0)"
        return report
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=minutes)
    report.note = f"idle for {minutes} min, CPU under {settings.WORKSPACE_IDLE_CPU_PERCENT}%"
    candidates = Workspace.objects.select_related("owner", "server").filter(
        status=WorkspaceStatus.ACTIVE, updated_at__lt=cutoff, server__isnull=False
    )
    recent = set(RouteActivity.objects.filter(last_request_at__gte=cutoff).values_list("user_id", flat=True))
    for workspace in candidates:
        if workspace.owner_id in recent:
            continue
        label = f"{workspace.owner.username} on {workspace.server.name}"
        try:
            stats = AgentClient.for_server(workspace.server).container_stats(
                workspace.container_name or workspace.owner.username
            )
        except ApplicationError as exc:
            report.errors.append(f"{label}: left running, {exc.message}")
            continue
        cpu = float(stats.get("cpu_percent") or 0.0)
        if cpu >= settings.WORKSPACE_IDLE_CPU_PERCENT:
            continue
        report.items.append(f"{label} (CPU {cpu:.1f}%)")
        if dry_run:
            continue
        try:
            workspace_services.workspace_stop(actor=None, workspace=workspace, reason=idle_reason(minutes))
        except ApplicationError as exc:
            report.items.pop()
            report.errors.append(f"{label}: {exc.message}")
            continue
        audit_log_record(
            action="workspace.idle_stop",
            target=workspace,
            server_id=workspace.server_id,
            source=AuditSource.SYSTEM,
            details={"username": workspace.owner.username, "idle_minutes": minutes, "cpu_percent": cpu},
        )
    report.count = len(report.items)
    return report
