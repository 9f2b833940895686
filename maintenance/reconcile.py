"""The reconciler: the database, the agents and the routes must agree.

For every server it compares the workspaces the database records with the
containers the agent reports (those carrying the platform's labels
`<prefix>.managed`, `<prefix>.user`, `<prefix>.workspace`), and it compares
active workspaces with their routes and the workspace folders. Every
difference becomes a `Finding`; unless it is a dry run each is repaired with
the services the API and the saga use, and every repair is audited.

A server whose agent does not answer is skipped and reported: nothing is
concluded about its containers, nothing on it is repaired (its stuck
operations wait too), because "no answer" is not "no containers".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError
from django.utils import timezone
from loguru import logger

from accounts.models import User
from audit.models import AuditSource, LogLevel
from audit.services import audit_log_record
from containers import nginx, saga
from containers import services as workspace_services
from containers.models import Route, Workspace, WorkspaceStatus
from events.models import EventKind
from events.services import event_publish, job_key
from mgmt.exceptions import ApplicationError, Conflict, NotFound
from servers.clients.agent import AgentClient
from servers.fanout import agent_deadline, agents_fan_out
from servers.models import Server

from .models import ReconcileRun, RunStatus

_LOCK_KEY = "maintenance:reconcile-lock"
_LOCK_SECONDS = 15 * 60  # longer than the task's time limit: a killed run frees it eventually


class Kind(StrEnum):
    ORPHAN_CONTAINER = "orphan_container"  # labelled container, no workspace
    MISSING_CONTAINER = "missing_container"  # active/stopped workspace, no container
    STOPPED_CONTAINER = "stopped_container"  # active workspace, its container not running
    ADOPTED_CONTAINER = "adopted_container"  # the workspace's container, under another id
    ORPHAN_ROUTE = "route_without_workspace"
    MISSING_ROUTE = "workspace_without_route"
    PORT_MISMATCH = "port_mismatch"  # container, database and route file disagree on ports
    ORPHAN_FOLDER = "folder_without_user"
    STUCK = "stuck_operation"  # pending/provisioning/deleting for longer than the limit


@dataclass
class Finding:
    kind: str
    server: str
    subject: str  # the username, container or file concerned
    detail: str
    action: str  # what the repair does (or would do)
    outcome: str = ""  # "done", "dry run", "reported", "failed: …"


# Statuses in which a workspace is expected to have a container (and, but for `failed`, routes).
_HOLDS_CONTAINER = (WorkspaceStatus.ACTIVE, WorkspaceStatus.STOPPED)
# Statuses in which a route may legitimately exist.
_MAY_HAVE_ROUTE = (
    WorkspaceStatus.ACTIVE,
    WorkspaceStatus.STARTING,
    WorkspaceStatus.STOPPED,
    WorkspaceStatus.PROVISIONING,
    WorkspaceStatus.DELETING,
    WorkspaceStatus.MOVING,
)
_TRANSIENT = (
    WorkspaceStatus.PENDING,
    WorkspaceStatus.PROVISIONING,
    WorkspaceStatus.STARTING,
    WorkspaceStatus.DELETING,
    WorkspaceStatus.MOVING,
)


def _labels(container: dict[str, Any]) -> tuple[str, str]:
    """(username, workspace id) from the labels, whatever the agent's prefix is."""
    labels = container.get("labels") or {}
    for key, value in labels.items():
        if key.endswith(".managed") and value == "true":
            prefix = key[: -len(".managed")]
            return labels.get(f"{prefix}.user", ""), labels.get(f"{prefix}.workspace", "")
    return "", ""


def _published_port(container: dict[str, Any], container_port: int) -> int | None:
    entry = (container.get("ports") or {}).get(f"{container_port}/tcp")
    return int(entry["host_port"]) if isinstance(entry, dict) and entry.get("host_port") else None


class _Run:
    def __init__(self, *, dry_run: bool, stuck_after: timedelta, remove_orphan_folders: bool) -> None:
        self.dry_run = dry_run
        self.stuck_after = stuck_after
        self.remove_orphan_folders = remove_orphan_folders
        self.findings: list[Finding] = []
        self.handled: set[int] = set()  # workspaces already repaired in this run

    def found(
        self,
        kind: Kind,
        *,
        server: str,
        subject: str,
        detail: str,
        action: str,
        repair: Callable[[], Any] | None,
        workspace: Workspace | None = None,
    ) -> None:
        """Record a difference; repair it (unless dry run or report-only) and audit the repair."""
        finding = Finding(kind=kind.value, server=server, subject=subject, detail=detail, action=action)
        self.findings.append(finding)
        if workspace is not None:
            self.handled.add(workspace.pk)
        if repair is None:
            finding.outcome = "reported"
            return
        if self.dry_run:
            finding.outcome = "dry run"
            return
        try:
            repair()
        except (ApplicationError, OSError, IntegrityError) as exc:
            finding.outcome = f"failed: {exc.message if isinstance(exc, ApplicationError) else exc}"
        else:
            finding.outcome = "done"
        audit_log_record(
            action=f"reconcile.{kind.value}",
            target=workspace,
            server_id=Server.objects.filter(name=server).values_list("pk", flat=True).first()
            if server
            else None,
            source=AuditSource.RECONCILER,
            level=LogLevel.INFO if finding.outcome == "done" else LogLevel.ERROR,
            details={"subject": subject, "detail": detail, "action": action, "outcome": finding.outcome},
        )
        logger.info("Reconcile {} {}: {} → {}", kind.value, subject, action, finding.outcome)


# --- repairs (each calls the services the API and the saga use) -------------------------------
def _delete_container(server: Server, container: dict[str, Any]) -> None:
    AgentClient.for_server(server).delete_container(container["id"], missing_ok=True)


def _finish_or_undo(
    workspace: Workspace, containers: list[dict[str, Any]] | None, age: str
) -> tuple[str, Callable]:
    """The repair of a stuck operation: what it does, and the call (the saga's own step table)."""
    pk = workspace.pk

    def resume(step: str, args: dict[str, Any] | None = None, failure: str = "") -> Callable[[], None]:
        """Run the saga from `step`; with `failure`, anything short of its end is this repair failing."""

        def repair() -> None:
            if saga.saga_run_inline(step, pk, args) is not saga.Next.DONE and failure:
                raise ApplicationError(failure)

        return repair

    if workspace.status == WorkspaceStatus.PENDING:
        return "provision it now (its queued task was lost)", resume("provision")
    if workspace.status == WorkspaceStatus.MOVING:
        return (
            "abandon the move (the target's copy is removed; it stays, stopped, where it was)",
            resume("move_abandon"),
        )
    if workspace.status == WorkspaceStatus.DELETING:

        def unfinished() -> str:
            reason = Workspace.objects.filter(pk=pk).values_list("status_reason", flat=True).first()
            return reason or "not done"

        def finish_delete() -> None:
            if saga.saga_run_inline("unpublish", pk, {"delete_folder": False}) is not saga.Next.DONE:
                raise ApplicationError(unfinished())

        return "finish the deletion (routes, container, account; the folder is kept)", finish_delete
    running = any(c.get("status") == "running" and _labels(c)[1] == str(pk) for c in containers or [])
    if workspace.status == WorkspaceStatus.STARTING and workspace.provisioned_at is not None:
        # A started workspace whose apps did not answer: never roll back what its owner has.
        return (
            "check its apps again (it stays starting until they answer)",
            resume("ready", {"timeout": 10}, "its apps still do not answer; see the container's logs"),
        )
    if workspace.step in ("routes", "ready") and running:
        first = "ready" if workspace.status == WorkspaceStatus.STARTING else "routes"
        return (
            "finish it (write the routes, wait for the apps, mark active)",
            resume(first, failure="its apps do not answer"),
        )
    reason = (
        f"{workspace.step or 'start'}: interrupted ({age} without progress); rolled back by the reconciler"
    )
    return "roll it back (container, folder) and mark it failed", resume("undo", {"reason": reason})


# --- the comparison ----------------------------------------------------------------------------
@dataclass
class _Host:
    """What one agent said: its containers and workspace folders, or why it could not say."""

    server: Server
    containers: list[dict[str, Any]] | None
    why: str = ""
    folders: list[str] = field(default_factory=list)


def _list_host(server: Server) -> _Host:
    client = AgentClient.for_server(server)
    try:
        return _Host(server, client.list_containers(), folders=client.folder_list())
    except ApplicationError as exc:
        return _Host(server, None, exc.message)


def _check_stuck(run: _Run, workspaces: list[Workspace], listed: dict[int, list | None]) -> None:
    cutoff = timezone.now() - run.stuck_after
    for ws in workspaces:
        if ws.status not in _TRANSIENT or ws.updated_at >= cutoff:
            continue
        server = ws.server.name if ws.server else ""
        containers = listed.get(ws.server_id) if ws.server_id else []
        age = f"{int((timezone.now() - ws.updated_at).total_seconds() // 60)} min"
        subject = ws.owner.username
        detail = f"{ws.status} (step {ws.step or '-'}) for {age}"
        if ws.server_id and containers is None:
            run.found(
                Kind.STUCK, server=server, subject=subject, workspace=ws, repair=None,
                detail=detail, action="wait: its server does not answer",
            )  # fmt: skip
            continue
        action, repair = _finish_or_undo(ws, containers, age)
        run.found(
            Kind.STUCK,
            server=server,
            subject=subject,
            detail=detail,
            action=action,
            repair=repair,
            workspace=ws,
        )


def _check_server(
    run: _Run, server: Server, containers: list[dict[str, Any]], workspaces: list[Workspace]
) -> None:
    # A moving workspace has a container on its target too: its own, not an orphan.
    by_pk = {str(ws.pk): ws for ws in workspaces if server.pk in (ws.server_id, ws.moving_to_id)}
    seen: set[int] = set()
    vscode_port, jupyter_port = settings.WORKSPACE_VSCODE_PORT, settings.WORKSPACE_JUPYTER_PORT
    for container in containers:
        username, ws_id = _labels(container)
        ws = by_pk.get(ws_id)
        name = container.get("name") or container["id"][:12]
        if ws is not None and ws.pk in run.handled:
            seen.add(ws.pk)
            continue
        if ws is None or ws.owner.username != username or ws.status == WorkspaceStatus.FAILED:
            why = "no workspace" if ws is None else f"workspace {ws.owner.username} is {ws.status}"
            if ws is not None and ws.owner.username != username:
                why = f"labelled for {username!r}, workspace {ws_id} belongs to {ws.owner.username}"
            run.found(
                Kind.ORPHAN_CONTAINER, server=server.name, subject=name,
                detail=f"labelled user={username or '-'} workspace={ws_id or '-'}: {why}",
                action="remove the container", repair=lambda c=container: _delete_container(server, c),
            )  # fmt: skip
            continue
        seen.add(ws.pk)
        if ws.status not in _HOLDS_CONTAINER:
            continue  # pending/provisioning/deleting: the stuck check owns them
        if ws.container_id and ws.container_id != container["id"]:
            run.found(
                Kind.ADOPTED_CONTAINER, server=server.name, subject=ws.owner.username, workspace=ws,
                detail=f"database has container {ws.container_id[:12]}, the host runs {container['id'][:12]}",
                action="record the running container",
                repair=lambda w=ws, c=container: workspace_services.workspace_container_adopt(
                    workspace=w, container_id=c["id"], container_name=c.get("name") or ""
                ),
            )  # fmt: skip
        if ws.status == WorkspaceStatus.ACTIVE and container.get("status") != "running":
            run.found(
                Kind.STOPPED_CONTAINER, server=server.name, subject=ws.owner.username, workspace=ws,
                detail=f"workspace active, container {container.get('status') or 'not running'}",
                action="start the container",
                repair=lambda w=ws: workspace_services.workspace_start(actor=None, workspace=w),
            )  # fmt: skip
            continue
        published = (_published_port(container, vscode_port), _published_port(container, jupyter_port))
        if (
            ws.status == WorkspaceStatus.ACTIVE
            and None not in published
            and published
            != (
                ws.vscode_port,
                ws.jupyter_port,
            )
        ):
            run.found(
                Kind.PORT_MISMATCH, server=server.name, subject=ws.owner.username, workspace=ws,
                detail=f"database {ws.vscode_port}/{ws.jupyter_port}, host {published[0]}/{published[1]}",
                action="record the container's ports and rewrite the routes",
                repair=lambda w=ws, p=published: workspace_services.workspace_ports_record(
                    workspace=w, vscode=p[0], jupyter=p[1]
                ),
            )  # fmt: skip
    for ws in by_pk.values():
        if ws.pk in seen or ws.pk in run.handled or ws.status not in _HOLDS_CONTAINER:
            continue
        reason = f"container missing on {server.name}"
        run.found(
            Kind.MISSING_CONTAINER, server=server.name, subject=ws.owner.username, workspace=ws,
            detail=f"workspace {ws.status}, no container on the host",
            action="mark failed, then provision again (the folder is kept)",
            repair=lambda w=ws, r=reason: workspace_services.workspace_recreate(workspace=w, reason=r),
        )  # fmt: skip


def _check_routes(
    run: _Run, workspaces: list[Workspace], skipped_servers: set[int], everything: bool
) -> None:
    by_user = {ws.owner.username: ws for ws in workspaces}
    routes = {route.username: route for route in Route.objects.all()}
    if everything:
        for username in sorted(routes):
            ws = by_user.get(username)
            if ws is not None and (ws.status in _MAY_HAVE_ROUTE or ws.server_id in skipped_servers):
                continue
            why = "no workspace" if ws is None else f"workspace is {ws.status}"
            run.found(
                Kind.ORPHAN_ROUTE, server=ws.server.name if ws and ws.server else "", subject=username,
                detail=f"route of {username}: {why}", action="remove the route",
                repair=lambda u=username: nginx.remove_user_route(username=u),
            )  # fmt: skip
    for ws in workspaces:
        if ws.status != WorkspaceStatus.ACTIVE or ws.pk in run.handled or ws.server_id in skipped_servers:
            continue
        username = ws.owner.username
        server = ws.server.name if ws.server else ""
        refresh = lambda w=ws: workspace_services.workspace_routes_refresh(workspace_id=w.pk)  # noqa: E731
        route = routes.get(username)
        if route is None:
            run.found(
                Kind.MISSING_ROUTE, server=server, subject=username, workspace=ws,
                detail="active workspace, no route", action="write the routes again", repair=refresh,
            )  # fmt: skip
            continue
        if not ws.vscode_port or not ws.jupyter_port or not ws.upstream_host:
            continue
        expected = {
            "vscode": (ws.upstream_host, ws.vscode_port),
            "jupyter": (ws.upstream_host, ws.jupyter_port),
        }
        if any(route.upstream(app) != upstream for app, upstream in expected.items()):
            run.found(
                Kind.PORT_MISMATCH, server=server, subject=username, workspace=ws,
                detail="the route does not point at the recorded ports",
                action="write the routes again", repair=refresh,
            )  # fmt: skip


def _check_folders(run: _Run, host: _Host) -> None:
    """The host's workspace folders (its agent's list) whose person is gone."""
    users = set(User.objects.filter(username__in=host.folders).values_list("username", flat=True))
    client = AgentClient.for_server(host.server)

    def remove(name: str) -> Callable[[], object] | None:
        return (lambda: client.folder_delete(name, missing_ok=True)) if run.remove_orphan_folders else None

    for name in host.folders:
        if name in users:
            continue
        run.found(
            Kind.ORPHAN_FOLDER, server=host.server.name, subject=name, detail=f"folder {name}: no such user",
            action="remove the folder" if run.remove_orphan_folders else "keep (a deletion may keep it)",
            repair=remove(name),
        )  # fmt: skip


def reconcile(
    *,
    dry_run: bool = False,
    server_name: str = "",
    trigger: str = "command",
    stuck_after: timedelta | None = None,
    remove_orphan_folders: bool = False,
) -> ReconcileRun:
    """Compare, classify, repair (unless `dry_run`); the run, with every finding, is saved and returned.

    One repairing run at a time (a cache lock): a second one while the first works gets `Conflict`.
    Runs older than RECONCILE_RUNS_KEEP_DAYS are deleted.
    """
    if dry_run:
        return _reconcile(dry_run=True, server_name=server_name, trigger=trigger,
                          stuck_after=stuck_after, remove_orphan_folders=remove_orphan_folders)  # fmt: skip
    if not cache.add(_LOCK_KEY, 1, _LOCK_SECONDS):
        raise Conflict("Another reconcile run is repairing right now; try again when it has finished.")
    try:
        return _reconcile(dry_run=False, server_name=server_name, trigger=trigger,
                          stuck_after=stuck_after, remove_orphan_folders=remove_orphan_folders)  # fmt: skip
    finally:
        cache.delete(_LOCK_KEY)


def _reconcile(
    *,
    dry_run: bool,
    server_name: str,
    trigger: str,
    stuck_after: timedelta | None,
    remove_orphan_folders: bool,
) -> ReconcileRun:
    ReconcileRun.objects.filter(
        started_at__lt=timezone.now() - timedelta(days=settings.RECONCILE_RUNS_KEEP_DAYS)
    ).delete()
    servers = list(Server.objects.order_by("name"))
    if server_name:
        servers = [s for s in servers if s.name == server_name]
        if not servers:
            raise NotFound(f"No server named {server_name!r}.")
    record = ReconcileRun.objects.create(dry_run=dry_run, server_name=server_name, trigger=trigger)
    run = _Run(
        dry_run=dry_run,
        stuck_after=stuck_after
        if stuck_after is not None
        else timedelta(minutes=settings.RECONCILE_STUCK_MINUTES),
        remove_orphan_folders=remove_orphan_folders,
    )
    job = job_key("reconcile", record.pk)  # the run's live stream (events/)

    def step(text: str) -> None:
        event_publish(job=job, kind=EventKind.STEP, text=text)

    try:
        step(f"Asking {len(servers)} host(s) for their containers")
        hosts = agents_fan_out(
            servers,
            _list_host,
            deadline=agent_deadline(),
            late=lambda s: _Host(s, None, f"the agent did not answer within {agent_deadline():.0f}s"),
            name="reconcile",
        )
        listed: dict[int, list | None] = {host.server.pk: host.containers for host in hosts}
        record.unreachable = [
            {"server": h.server.name, "reason": h.why} for h in hosts if h.containers is None
        ]
        skipped = {host.server.pk for host in hosts if host.containers is None}
        workspaces = list(Workspace.objects.select_related("owner", "server").order_by("pk"))
        if server_name:
            workspaces = [ws for ws in workspaces if ws.server_id == servers[0].pk]
        step("Checking stuck workspaces")
        _check_stuck(run, workspaces, listed)
        for host in hosts:
            if host.containers is not None:
                step(f"Comparing {host.server.name}'s containers with the database")
                _check_server(run, host.server, host.containers, workspaces)
        step("Checking the routes")
        _check_routes(run, workspaces, skipped, everything=not server_name)
        step("Checking the workspace folders")
        for host in hosts:
            if host.containers is not None:  # an unreachable host's folders are not concluded on
                _check_folders(run, host)
    except Exception as exc:
        logger.exception("The reconciler failed")
        record.status, record.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    else:
        if record.unreachable:
            record.status = RunStatus.PARTIAL
        else:
            record.status = RunStatus.DRIFT if run.findings else RunStatus.CLEAN
    record.findings = [asdict(f) for f in run.findings]
    record.finished_at = timezone.now()
    record.save()
    for finding in run.findings:
        line = f"{finding.server}: {finding.subject}: {finding.detail} → {finding.action} ({finding.outcome})"
        event_publish(job=job, kind=EventKind.LOG, text=line)
    summary = f"{record.get_status_display()}: {len(run.findings)} finding(s)."
    failed = record.status == RunStatus.FAILED
    event_publish(job=job, kind=EventKind.FAILED if failed else EventKind.DONE, text=record.error or summary)
    return record
