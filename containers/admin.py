"""Operator UI: pending sign-ups (approve, reject), workspaces with their status, per-row
start/stop/restart/retry, links to the apps and the container's logs. Every action calls the same
service as the API (which writes the audit row); a refusal becomes a message, never a 500."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import services as account_services
from accounts.models import UserStatus
from accounts.roles import MatrixModelAdmin
from audit.models import AuditSource
from mgmt.admin_mixins import ServiceErrorsAdminMixin
from mgmt.exceptions import ApplicationError, Conflict
from registry.selectors import allowed_workspace_images, default_workspace_image, images_overview
from servers.clients.agent import LOG_CURSOR_RE
from servers.models import Server

from . import selectors, services
from .models import PendingUser, RouteActivity, Workspace, WorkspaceStatus


class ServerChoiceField(forms.ModelChoiceField):
    """Online servers, each with what it has left: "local — 3.0 CPU, 20.0 GiB free"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reserved: dict[int, dict[str, float]] | None = None

    def label_from_instance(self, obj: Server) -> str:
        if self._reserved is None:  # one query for every choice, at the first label
            self._reserved = selectors.server_reservations_by_server()
        return selectors.server_free_label(server=obj, reserved=self._reserved.get(obj.pk, {}))


def _image_choices(names: list[str]) -> list[tuple[str, str]]:
    """Each allowed image with the hosts that have it, so that one present nowhere is flagged
    before it is chosen (the hosts are asked in parallel, within the agents' timeouts)."""
    overview = images_overview(Server.objects.schedulable())
    where = {item["tag"]: sorted({host["server"] for host in item["hosts"]}) for item in overview["images"]}
    choices = []
    for name in names:
        hosts = where.get(name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest", [])
        label = (
            f"{name} — on {', '.join(hosts)}" if hosts else f"{name} — ⚠ on no host: pull or build it first"
        )
        choices.append((name, label))
    return choices


class ApproveForm(forms.Form):
    server = ServerChoiceField(
        queryset=Server.objects.schedulable(), required=False, empty_label="(most free memory)"
    )
    cpu = forms.FloatField(min_value=0.1, max_value=256, initial=1.0)
    memory = forms.CharField(max_length=16, initial="2g", help_text='bytes or a size like "2g"')
    gpus = forms.IntegerField(min_value=0, max_value=16, initial=0)
    image = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["image"].choices = _image_choices(allowed_workspace_images())
        self.fields["image"].initial = default_workspace_image()

    @classmethod
    def with_defaults(cls, data: Any) -> ApproveForm:
        """The form for an in-place approval (the dashboard sends the server only): what is not
        sent takes the platform's defaults."""
        values = {
            "cpu": settings.WORKSPACE_DEFAULT_CPU,
            "memory": str(settings.WORKSPACE_DEFAULT_MEMORY),
            "gpus": 0,
            "image": default_workspace_image(),
        }
        sent = ("server", "cpu", "memory", "gpus", "image")
        values.update({key: data[key] for key in sent if data.get(key)})
        return cls(values)


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Shown to the person when they try to log in.")


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Back to where the button was (the dashboard or a list), when that is a page of this site."""
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = default
    return HttpResponseRedirect(target)


class _MatrixAdmin(ServiceErrorsAdminMixin, MatrixModelAdmin):
    """Seen and used by the roles the matrix names in `view_permission`; nobody adds, edits or
    deletes here: every change is a button or action that calls a service."""

    view_permission = "manage_users"

    def get_actions(self, request: HttpRequest) -> dict:
        # Actions need a "change" right by default; these are guarded by the matrix instead.
        return super().get_actions(request) if self._granted(request, self.view_permission) else {}

    def _url(self, name: str) -> str:
        opts = self.model._meta
        return f"{opts.app_label}_{opts.model_name}_{name}"

    def _post_view(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return self.admin_site.admin_view(require_POST(view))


# --- sign-ups ----------------------------------------------------------------------------------
@admin.register(PendingUser)
class PendingUserAdmin(_MatrixAdmin):
    list_display = ("username", "email", "created_at")
    search_fields = ("username", "email")
    actions = ("approve", "reject")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingUser]:
        return super().get_queryset(request).filter(status=UserStatus.PENDING)

    def get_urls(self) -> list:
        return [
            path("<int:pk>/approve/", self._post_view(self.approve_view), name=self._url("approve")),
            path("<int:pk>/reject/", self._post_view(self.reject_view), name=self._url("reject")),
            *super().get_urls(),
        ]

    def _approve_one(self, request: HttpRequest, user: Any, data: dict[str, Any]) -> None:
        try:
            workspace, queued = services.workspace_approve(actor=request.user, user=user, **data)
        except ApplicationError as exc:
            self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        else:
            workspace.refresh_from_db()  # with eager Celery provisioning has run already
            done = "approved" if queued else "already approved"
            self.message_user(
                request, f"{user.username}: {done}, workspace {workspace.status}.", messages.SUCCESS
            )

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Approve one sign-up in place (the dashboard): the chosen server, default resources."""
        self.require(request)
        user = get_object_or_404(self.get_queryset(request), pk=pk)
        form = ApproveForm.with_defaults(request.POST)
        if form.is_valid():
            self._approve_one(request, user, form.cleaned_data)
        else:
            errors = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in form.errors.items())
            self.message_user(request, f"{user.username}: {errors}", messages.ERROR)
        return _back(request, reverse(f"admin:{self._url('changelist')}"))

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require(request)
        user = get_object_or_404(self.get_queryset(request), pk=pk)
        self._reject_one(request, user, request.POST.get("reason", ""))
        return _back(request, reverse(f"admin:{self._url('changelist')}"))

    def _reject_one(self, request: HttpRequest, user: Any, reason: str) -> None:
        try:
            account_services.user_reject(actor=request.user, user=user, reason=reason)
        except ApplicationError as exc:
            self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"{user.username}: sign-up rejected.", messages.SUCCESS)

    def _intermediate(self, request: HttpRequest, queryset: QuerySet, form: forms.Form, **extra: Any):
        context = {
            **self.admin_site.each_context(request),
            "users": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            **extra,
        }
        return TemplateResponse(request, "admin/containers/approve.html", context)

    @admin.action(description="Approve and provision a workspace")
    def approve(self, request: HttpRequest, queryset: QuerySet[PendingUser]) -> TemplateResponse | None:
        form = ApproveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for user in queryset:
                self._approve_one(request, user, form.cleaned_data)
            return None
        return self._intermediate(
            request, queryset, form, title="Approve sign-ups", action="approve", submit="Approve",
            intro="Approve these sign-ups; each gets a workspace provisioned in the background:",
        )  # fmt: skip

    @admin.action(description="Reject the selected sign-ups")
    def reject(self, request: HttpRequest, queryset: QuerySet[PendingUser]) -> TemplateResponse | None:
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for user in queryset:
                self._reject_one(request, user, form.cleaned_data["reason"])
            return None
        return self._intermediate(
            request, queryset, form, title="Reject sign-ups", action="reject", submit="Reject",
            intro="Reject these sign-ups; they cannot log in and are told the reason:",
        )  # fmt: skip


# --- workspaces --------------------------------------------------------------------------------
# Which row buttons a workspace in each status offers (the services refuse the others anyway).
_OPERATIONS: dict[str, tuple[str, ...]] = {
    WorkspaceStatus.ACTIVE: ("stop", "restart", "move"),
    WorkspaceStatus.STARTING: ("stop", "restart"),
    WorkspaceStatus.STOPPED: ("start", "restart", "move"),
    WorkspaceStatus.FAILED: ("retry",),
}


@admin.register(Workspace)
class WorkspaceAdmin(_MatrixAdmin):
    view_permission = "manage_workspaces"
    # The buttons next to the status, so that a narrow window still shows them.
    list_display = (
        "owner", "status", "operations", "server", "step", "image", "vscode_port", "jupyter_port",
        "updated_at",
    )  # fmt: skip
    list_filter = ("status", "server")
    # Newest first, on an index: ordering by the owner's name sorts every workspace joined to its
    # owner (docs/deploy.md, "At 10,000 people").
    ordering = ("-created_at", "-id")
    list_select_related = ("owner", "server")  # the server may be null: name both, or one query a row
    search_fields = ("owner__username", "container_name")
    readonly_fields = ["open_apps", "container_logs", *(f.name for f in Workspace._meta.fields)]
    actions = ("start", "stop", "restart", "move", "retry")

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/operate/<str:operation>/",
                self._post_view(self.operate_view),
                name=self._url("operate"),
            ),
            path("<int:pk>/retry/", self._post_view(self.retry_view), name=self._url("retry")),
            path("<int:pk>/logs/", self.admin_site.admin_view(self.logs_view), name=self._url("logs")),
            *super().get_urls(),
        ]

    # --- per-row buttons: they submit the list's own form (its CSRF token) to the row's URL ---
    @admin.display(description="Operations")
    def operations(self, obj: Workspace) -> str:
        buttons = []
        for operation in _OPERATIONS.get(obj.status, ()):
            url = (
                reverse(f"admin:{self._url('retry')}", args=[obj.pk])
                if operation == "retry"
                else reverse(f"admin:{self._url('operate')}", args=[obj.pk, operation])
            )
            buttons.append((url, operation, operation.capitalize()))
        return format_html_join(
            " ",
            '<button type="submit" form="changelist-form" formaction="{}" formmethod="post" '
            'class="button ops-{}">{}</button>',
            buttons,
        )

    @admin.display(description="Open")
    def open_apps(self, obj: Workspace) -> str:
        if obj.status not in (WorkspaceStatus.ACTIVE, WorkspaceStatus.STARTING) or not obj.owner_id:
            return f"— (the workspace is {obj.status})"
        links = format_html_join(
            " · ",
            '<a href="{}" target="_blank" rel="noopener" class="ops-open-{}">{}</a>',
            [
                (url, app, "VS Code" if app == "vscode" else app.capitalize())
                for app, url in selectors.workspace_links(workspace=obj).items()
            ],
        )
        if settings.WORKSPACE_ADMIN_ACCESS:
            return format_html("{} <span class='quiet'>(your visit is audited)</span>", links)
        return format_html(
            "{} <span class='quiet'>(WORKSPACE_ADMIN_ACCESS is off: only the owner gets in)</span>", links
        )

    @admin.display(description="Container logs")
    def container_logs(self, obj: Workspace) -> str:
        if not obj.pk or not obj.container_name:
            return "— (no container yet)"
        return format_html(
            '<a href="{}" class="ops-logs">Follow the container\'s log</a>',
            reverse(f"admin:{self._url('logs')}", args=[obj.pk]),
        )

    def _operate(self, request: HttpRequest, workspace: Workspace, operation: str) -> None:
        """One service call; its refusal is an error message."""
        try:
            if operation == "retry":
                self.require(request, self.view_permission, "manage_users")  # approving is a user manager's
                if workspace.status != WorkspaceStatus.FAILED:
                    raise Conflict(f"Only a failed workspace is retried; this one is {workspace.status}.")
                server = workspace.server
                if server is not None and not Server.objects.schedulable().filter(pk=server.pk).exists():
                    server = None  # its server takes no new workspaces: let the platform pick
                workspace, _ = services.workspace_approve(
                    actor=request.user, user=workspace.owner, server=server, cpu=workspace.cpu,
                    memory=workspace.memory, gpus=workspace.gpus, image=workspace.image,
                )  # fmt: skip
                workspace.refresh_from_db()
                self.message_user(request, f"{workspace}: retried, now {workspace.status}.", messages.SUCCESS)
                return
            if operation == "move":  # to the host with the most free memory
                source = workspace.server
                services.workspace_move_elsewhere(
                    actor=request.user, workspace=workspace, source=AuditSource.ADMIN
                )
                workspace.refresh_from_db()
                where = workspace.server if workspace.server_id != getattr(source, "pk", None) else None
                text = (
                    f"moved to {where}"
                    if where
                    else f"moving ({workspace.status}: {workspace.status_reason})"
                )
                self.message_user(request, f"{workspace}: {text}.", messages.SUCCESS)
                return
            getattr(services, f"workspace_{operation}")(actor=request.user, workspace=workspace)
        except ApplicationError as exc:
            self.message_user(request, f"{workspace}: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, f"{workspace}: {operation} done.", messages.SUCCESS)

    def operate_view(self, request: HttpRequest, pk: int, operation: str) -> HttpResponse:
        self.require(request)
        if operation not in ("start", "stop", "restart", "move"):
            raise PermissionDenied("Unknown operation.")
        workspace = get_object_or_404(self.get_queryset(request).select_related("owner", "server"), pk=pk)
        self._operate(request, workspace, operation)
        return _back(request, reverse(f"admin:{self._url('changelist')}"))

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require(request, self.view_permission, "manage_users")
        workspace = get_object_or_404(self.get_queryset(request).select_related("owner", "server"), pk=pk)
        self._operate(request, workspace, "retry")
        return _back(request, reverse(f"admin:{self._url('changelist')}"))

    def logs_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require(request)
        workspace = get_object_or_404(self.get_queryset(request).select_related("owner", "server"), pk=pk)
        try:
            tail = max(1, min(int(request.GET.get("tail", 200)), 5000))
        except ValueError:
            tail = 200
        after = request.GET.get("after", "")
        if after and not re.fullmatch(LOG_CURSOR_RE, after):
            after = ""  # not a cursor the agent gave: the last lines again
        try:
            logs, error = selectors.workspace_logs(workspace=workspace, tail=tail, after=after), ""
        except ApplicationError as exc:
            logs, error = {"lines": [], "cursor": after}, exc.message
        if request.GET.get("format") == "json":  # the page's poll for what follows the cursor
            return JsonResponse({**logs, "error": error})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Container log of {workspace}",
            "opts": self.model._meta,
            "original": workspace,
            "workspace": workspace,
            "lines": logs["lines"],
            "cursor": logs["cursor"],
            "error": error,
            "tail": tail,
        }
        return TemplateResponse(request, "admin/containers/workspace/logs.html", context)

    def _each(self, request: HttpRequest, queryset: QuerySet[Workspace], operation: str) -> None:
        for workspace in queryset.select_related("owner", "server"):
            self._operate(request, workspace, operation)

    @admin.action(description="Start")
    def start(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "start")

    @admin.action(description="Stop")
    def stop(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "stop")

    @admin.action(description="Restart")
    def restart(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "restart")

    @admin.action(description="Move to another host (the one with the most free memory)")
    def move(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "move")

    @admin.action(description="Retry the selected failed workspaces (approve again)")
    def retry(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "retry")


@admin.register(RouteActivity)
class RouteActivityAdmin(admin.ModelAdmin):
    list_display = ("user", "last_request_at")
    search_fields = ("user__username",)
    readonly_fields = ("user", "last_request_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # written by the edge; deleting it here would not be audited
