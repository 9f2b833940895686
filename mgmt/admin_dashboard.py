"""The admin's landing page: host load and capacity, pending sign-ups, workspaces that need an
operator, the last reconcile run and the Celery backlog; the app list below.

Thin: each part is one app's selector, shown only to the roles the matrix lets see (and act on)
it. The buttons post to the admin views of the app that owns the action (containers/admin.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.permissions import user_has_permission
from accounts.selectors import pending_signups
from containers.selectors import (
    server_free_label,
    server_reservations_by_server,
    workspaces_needing_attention,
)
from maintenance.selectors import reconcile_run_latest
from mgmt.health import celery_queue_depths
from servers.models import Server
from servers.selectors import server_capacity_overview

LIST_LIMIT = 50  # rows per list; the full lists are one link away


def _percent(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def _meters(row: dict[str, Any]) -> dict[str, Any]:
    """A host row with the percentages its bars need (None: unknown)."""
    for kind in ("cpu", "memory", "disk", "gpu"):
        figures = row[kind]
        if kind in ("cpu", "gpu"):
            figures["used_percent"] = figures["percent"]  # the agent's own figure
        else:
            figures["used_percent"] = _percent(figures["used"], figures["total"])
        figures["reserved_percent"] = _percent(figures.get("reserved"), figures["total"])
    return row


def admin_dashboard(request: HttpRequest) -> HttpResponse:
    """`/admin/`: wrapped in `admin.site.admin_view` (staff only) by mgmt/urls.py."""
    user = request.user
    may = {
        perm: user_has_permission(user, perm)
        for perm in ("view_dashboard", "view_servers", "manage_users", "manage_workspaces")
    }
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "subtitle": None,
        "app_list": admin.site.get_app_list(request),
        "may": may,
    }
    reservations = server_reservations_by_server()
    if may["view_servers"]:
        context["hosts"] = [_meters(row) for row in server_capacity_overview(reservations=reservations)]
    if may["manage_users"]:
        pending = pending_signups()
        context["pending_count"] = pending.count()
        context["pending"] = list(pending[:LIST_LIMIT])
        context["server_choices"] = [
            (server.pk, server_free_label(server=server, reserved=reservations.get(server.pk, {})))
            for server in Server.objects.schedulable()
        ]
    if may["manage_workspaces"]:
        attention = workspaces_needing_attention()
        context["attention_count"] = attention.count()
        context["attention"] = list(attention[:LIST_LIMIT])
    if may["view_dashboard"]:
        context["reconcile"] = reconcile_run_latest()
        context["may_view_reconcile"] = user.has_perm("maintenance.view_reconcilerun")
        context["queues"] = celery_queue_depths()
    return TemplateResponse(request, "admin/dashboard.html", context)
