"""The "my workspace" page: status while provisioning, then links and start/stop/restart."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.pages import page_user
from events.selectors import events_last_id
from events.services import job_key
from mgmt.exceptions import ApplicationError
from mgmt.health import worker_alive

from . import edge, selectors, services
from .activity import workspace_idle_stop_at
from .models import WorkspaceStatus

_ACTIONS = {
    "start": services.workspace_start,
    "stop": services.workspace_stop,
    "restart": services.workspace_restart,
}


@require_GET
def workspace_page(request: HttpRequest) -> HttpResponse:
    user = page_user(request)
    if user is None:
        return redirect(f"/login?next={request.path}")
    workspace = selectors.workspace_of_user(user=user)
    busy = workspace is not None and workspace.status in (
        WorkspaceStatus.PENDING,
        WorkspaceStatus.PROVISIONING,
        WorkspaceStatus.STARTING,
        WorkspaceStatus.MOVING,  # its owner follows the move's steps, then lands on the same URL
    )
    # Sent here by the edge when an app of this workspace did not answer (templates/nginx).
    parsed = edge.host_parse(request.GET.get("unavailable", ""))
    unavailable = parsed[1] if parsed and parsed[0] == user.username else None
    not_yours = parsed is not None and parsed[0] != user.username
    stop_at = workspace_idle_stop_at(workspace=workspace) if workspace else None
    job = job_key("workspace", workspace.pk) if workspace else ""
    context = {
        "person": user,
        "workspace": workspace,
        # Warned once half of the idle time has passed: the page says when, and since when idle.
        "idle_stop_at": stop_at
        if stop_at and stop_at - timezone.now() <= timedelta(minutes=settings.WORKSPACE_IDLE_STOP_MINUTES / 2)
        else None,
        "idle_since": stop_at - timedelta(minutes=settings.WORKSPACE_IDLE_STOP_MINUTES) if stop_at else None,
        "unavailable": edge.APP_LABELS[unavailable] if unavailable else None,
        "not_yours": not_yours,
        "busy": busy,
        "links": selectors.workspace_links(workspace=workspace) if workspace else None,
        "progress": selectors.workspace_progress(workspace=workspace)
        if workspace is not None and workspace.status == WorkspaceStatus.PROVISIONING
        else None,
        # Queued with nobody to run it: say so instead of "queued" forever (mgmt/health.py).
        "no_worker": workspace is not None
        and workspace.status == WorkspaceStatus.PENDING
        and not worker_alive("provisioning"),
        # The live stream (events/) from this moment on; the page updates itself from it.
        "events_url": f"/events/workspace/{workspace.pk}?after={events_last_id(job=job)}" if busy else "",
        "operable": workspace is not None
        and workspace.status in (WorkspaceStatus.ACTIVE, WorkspaceStatus.STARTING, WorkspaceStatus.STOPPED),
    }
    return render(request, "pages/workspace.html", context)


@require_POST
def workspace_action_page(request: HttpRequest, action: str) -> HttpResponse:
    user = page_user(request)
    if user is None:
        return redirect("/login?next=/workspace")
    workspace = selectors.workspace_of_user(user=user)
    operation = _ACTIONS.get(action)
    if workspace is None or operation is None:
        messages.error(request, "Nothing to do.")
        return redirect("page-workspace")
    try:
        operation(actor=user, workspace=workspace)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Workspace {action} done.")
    return redirect("page-workspace")
