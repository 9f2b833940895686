"""Workspaces: read-only queries for the API, the pages, the admin and the tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from mgmt.exceptions import Conflict, NotFound
from servers.clients.agent import AgentClient, AgentError, AgentUnavailable
from servers.models import Server, ServerStatus

from . import edge
from .models import RESERVING_STATUSES, Workspace, WorkspaceStatus


def workspace_list(*, user: Any) -> Any:
    """Workspaces `user` may see (admins: all; others: their own), newest first."""
    return Workspace.objects.select_related("owner", "server").visible_to(user).order_by("-created_at", "-id")


def workspace_get(*, user: Any, pk: int) -> Workspace:
    """A workspace `user` may see, or NotFound (the same answer as for one that does not exist)."""
    workspace = workspace_list(user=user).filter(pk=pk).first()
    if workspace is None:
        raise NotFound("No such workspace.")
    return workspace


def workspace_visible(*, user: Any, pk: int) -> bool:
    """The owner, or whoever the permission matrix lets see it (operators)."""
    return (
        Workspace.objects.filter(pk=pk, owner_id=user.pk).exists()
        or workspace_list(user=user).filter(pk=pk).exists()
    )


def workspace_of_user(*, user: Any, name: str = "default") -> Workspace | None:
    return Workspace.objects.select_related("server").filter(owner=user, name=name).first()


def workspace_links(*, workspace: Workspace) -> dict[str, str]:
    """Each app's own origin (containers/edge.py)."""
    return {app: edge.workspace_url(workspace.owner.username, app) for app in edge.APPS}


# The saga's steps as the owner sees them while a workspace is being made (Workspace.step).
_PROGRESS_STEPS = (
    ("folder", "Workspace folder"),
    ("container", "Container"),
    ("ports", "Host ports"),
    ("routes", "Routes at the edge"),
    ("ready", "VS Code and Jupyter answer"),
)


def workspace_progress(*, workspace: Workspace) -> list[dict[str, str]]:
    """Each provisioning step with `done`, `current` or `todo`, for the owner's page."""
    keys = [key for key, _ in _PROGRESS_STEPS]
    current = keys.index(workspace.step) if workspace.step in keys else -1
    return [
        {"label": label, "state": "done" if i < current else "current" if i == current else "todo"}
        for i, (_, label) in enumerate(_PROGRESS_STEPS)
    ]


def workspace_live_state(*, workspace: Workspace) -> dict[str, Any]:
    """What the agent says about the container right now; never raises for an unreachable host."""
    if not workspace.server_id or not workspace.container_name:
        return {"state": None, "detail": "no container yet"}
    try:
        data = AgentClient.for_server(workspace.server).get_container(workspace.container_name)
    except AgentUnavailable as exc:
        return {"state": "unknown", "detail": exc.message}
    except AgentError as exc:
        state = "missing" if exc.agent_status == 404 else "unknown"
        return {"state": state, "detail": exc.message}
    return {"state": data.get("status"), "detail": ""}


def workspace_logs(*, workspace: Workspace, tail: int = 100, after: str = "") -> dict[str, Any]:
    """The container's last lines (or those after the cursor `after`) and the cursor that follows."""
    if not workspace.server_id or not workspace.container_name:
        raise Conflict("This workspace has no container yet.")
    return AgentClient.for_server(workspace.server).container_logs(
        workspace.container_name, tail=tail, after=after
    )


@dataclass(frozen=True)
class Placement:
    server: Server
    free_memory: int | None
    free_gpus: int | None


def server_reservations(*, server: Server, exclude: Workspace | None = None) -> dict[str, float]:
    """What the workspaces on `server` reserve, and those moving to it: a move holds room on both
    hosts until it switches (or gives up)."""
    qs = Workspace.objects.filter(
        Q(server=server, status__in=RESERVING_STATUSES) | Q(moving_to=server, status=WorkspaceStatus.MOVING)
    )
    if exclude is not None and exclude.pk:
        qs = qs.exclude(pk=exclude.pk)
    totals = qs.aggregate(
        memory=Coalesce(Sum("memory"), 0), gpus=Coalesce(Sum("gpus"), 0), cpu=Coalesce(Sum("cpu"), 0.0)
    )
    return {"memory": int(totals["memory"]), "gpus": int(totals["gpus"]), "cpu": float(totals["cpu"])}


def server_reservations_by_server() -> dict[int, dict[str, float]]:
    """What the workspaces of every server reserve ({server_id: {cpu, memory, gpus}}), moves on
    their way to it included, in two queries."""
    sums = {
        "memory": Coalesce(Sum("memory"), 0),
        "gpus": Coalesce(Sum("gpus"), 0),
        "cpu": Coalesce(Sum("cpu"), 0.0),
    }
    live = Workspace.objects.filter(status__in=RESERVING_STATUSES)
    on = live.filter(server__isnull=False).values(host=F("server"))
    coming = live.filter(moving_to__isnull=False, status=WorkspaceStatus.MOVING).values(host=F("moving_to"))
    totals: dict[int, dict[str, float]] = {}
    for rows in (on, coming):
        for row in rows.annotate(**sums).order_by():
            total = totals.setdefault(row["host"], {"memory": 0, "gpus": 0, "cpu": 0.0})
            total["memory"] += int(row["memory"])
            total["gpus"] += int(row["gpus"])
            total["cpu"] += float(row["cpu"])
    return totals


def server_free_capacity(*, server: Server, reserved: dict[str, float] | None = None) -> dict[str, Any]:
    """What `server` has left after its workspaces' reservations (None where its capacity is unknown)."""
    reserved = reserved if reserved is not None else server_reservations(server=server)
    return {
        "cpu": None if server.cpu_count is None else server.cpu_count - reserved.get("cpu", 0.0),
        "memory": None if server.memory_total is None else server.memory_total - reserved.get("memory", 0),
        "gpus": (server.gpu_count or 0) - int(reserved.get("gpus", 0)),
    }


def server_free_label(*, server: Server, reserved: dict[str, float] | None = None) -> str:
    """ "local — 3.0 CPU, 20.0 GiB free" for the approve form's server choices."""
    free = server_free_capacity(server=server, reserved=reserved)
    cpu = "? CPU" if free["cpu"] is None else f"{free['cpu']:.1f} CPU"
    memory = "? GiB" if free["memory"] is None else f"{free['memory'] / 1024**3:.1f} GiB"
    gpus = f", {free['gpus']} GPU" if server.gpu_count else ""
    return f"{server.name} — {cpu}, {memory}{gpus} free"


# Statuses a workspace passes through on its way somewhere; staying in one is being stuck.
TRANSIENT_STATUSES = (
    WorkspaceStatus.PENDING,
    WorkspaceStatus.PROVISIONING,
    WorkspaceStatus.STARTING,
    WorkspaceStatus.DELETING,
)


def workspaces_needing_attention(*, stuck_after: timedelta | None = None) -> QuerySet[Workspace]:
    """Failed workspaces, and those still pending, provisioning, starting or deleting after `stuck_after`
    (default: RECONCILE_STUCK_MINUTES, the reconciler's limit)."""
    if stuck_after is None:
        stuck_after = timedelta(minutes=settings.RECONCILE_STUCK_MINUTES)
    since = timezone.now() - stuck_after
    return (
        Workspace.objects.filter(
            Q(status=WorkspaceStatus.FAILED) | Q(status__in=TRANSIENT_STATUSES, updated_at__lt=since)
        )
        .select_related("owner", "server")
        .order_by("-updated_at", "-id")
    )


def server_fit(*, server: Server, memory: int, gpus: int, exclude: Workspace | None = None) -> Placement:
    """How much of `server` is left after what its workspaces reserve; Conflict when it does not fit."""
    if server.status != ServerStatus.ONLINE:
        raise Conflict(f"Server {server.name} is {server.status}; it takes no new workspaces.")
    reserved = server_reservations(server=server, exclude=exclude)
    free_memory = None if server.memory_total is None else server.memory_total - reserved["memory"]
    free_gpus = (server.gpu_count or 0) - reserved["gpus"]
    if free_memory is not None and free_memory < memory:
        raise Conflict(
            f"Server {server.name} has {max(free_memory, 0) // 1024**2} MiB left after reservations; "
            f"{memory // 1024**2} MiB were asked."
        )
    if gpus and free_gpus < gpus:
        raise Conflict(f"Server {server.name} has {max(free_gpus, 0)} free GPU(s); {gpus} were asked.")
    return Placement(server=server, free_memory=free_memory, free_gpus=free_gpus)


def server_pick(
    *, memory: int, gpus: int, exclude: Workspace | None = None, avoid: Server | None = None
) -> Server:
    """The online, non-draining server with the most free memory that fits (never `avoid`, the
    host a move leaves); Conflict saying why not."""
    candidates = [s for s in Server.objects.schedulable() if avoid is None or s.pk != avoid.pk]
    if not candidates:
        raise Conflict("No server is online (and not draining); add or bring up a Docker host first.")
    fits: list[Placement] = []
    reasons: list[str] = []
    for server in candidates:
        try:
            fits.append(server_fit(server=server, memory=memory, gpus=gpus, exclude=exclude))
        except Conflict as exc:
            reasons.append(exc.message)
    if not fits:
        raise Conflict("No server can take this workspace: " + " ".join(reasons))
    # Unknown capacity (no stats yet) ranks last; ties go to the server named first.
    fits.sort(key=lambda p: (p.free_memory is None, -(p.free_memory or 0), p.server.name))
    return fits[0].server


def workspaces_on_server(server: Server) -> list[str]:
    """The finder registered with the servers app: live workspaces refuse a server's deletion."""
    return [
        f"{w.owner.username}/{w.name} ({w.status})"
        for w in Workspace.objects.live().filter(server=server).select_related("owner")
    ]


def user_for_approval(*, pk: int) -> User:
    try:
        return User.objects.get(pk=pk)
    except User.DoesNotExist as exc:
        raise NotFound("No such user.") from exc
