"""Operator UI: pending sign-ups with an approve action (server and resources), workspaces with
their status and start/stop/restart. Every action calls the same services as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.models import UserStatus
from accounts.permissions import user_has_permission
from mgmt.admin_mixins import ServiceErrorsAdminMixin
from mgmt.exceptions import ApplicationError
from registry.selectors import allowed_workspace_images, default_workspace_image
from servers.models import Server

from . import services
from .models import PendingUser, RouteActivity, Workspace


class ApproveForm(forms.Form):
    server = forms.ModelChoiceField(
        queryset=Server.objects.schedulable(), required=False, empty_label="(most free memory)"
    )
    cpu = forms.FloatField(min_value=0.1, max_value=256, initial=1.0)
    memory = forms.CharField(max_length=16, initial="2g", help_text='bytes or a size like "2g"')
    gpus = forms.IntegerField(min_value=0, max_value=16, initial=0)
    image = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["image"].choices = [(name, name) for name in allowed_workspace_images()]
        self.fields["image"].initial = default_workspace_image()


class _ManageUsersAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    permission = "manage_users"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_has_permission(request.user, self.permission)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has_permission(request.user, self.permission)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PendingUser)
class PendingUserAdmin(_ManageUsersAdmin):
    list_display = ("username", "email", "created_at")
    search_fields = ("username", "email")
    actions = ("approve",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingUser]:
        return super().get_queryset(request).filter(status=UserStatus.PENDING)

    def get_actions(self, request: HttpRequest) -> dict:
        # Actions need a "change" right by default; this one is guarded by the matrix instead.
        actions = super().get_actions(request)
        return actions if user_has_permission(request.user, self.permission) else {}

    @admin.action(description="Approve and provision a workspace")
    def approve(self, request: HttpRequest, queryset: QuerySet[PendingUser]) -> TemplateResponse | None:
        form = ApproveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            for user in queryset:
                try:
                    workspace, _ = services.workspace_approve(
                        actor=request.user, user=user, **form.cleaned_data
                    )
                except ApplicationError as exc:
                    self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
                else:
                    self.message_user(
                        request, f"{user.username}: approved, workspace {workspace.status}.", messages.SUCCESS
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Approve sign-ups",
            "users": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/containers/approve.html", context)


@admin.register(Workspace)
class WorkspaceAdmin(_ManageUsersAdmin):
    permission = "manage_workspaces"
    list_display = ("owner", "server", "status", "step", "image", "vscode_port", "jupyter_port", "updated_at")
    list_filter = ("status", "server")
    search_fields = ("owner__username", "container_name")
    readonly_fields = [f.name for f in Workspace._meta.fields]
    actions = ("start", "stop", "restart")

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        return actions if user_has_permission(request.user, self.permission) else {}

    def _each(self, request: HttpRequest, queryset: QuerySet[Workspace], action: str) -> None:
        operation = getattr(services, f"workspace_{action}")
        for workspace in queryset:
            try:
                operation(actor=request.user, workspace=workspace)
            except ApplicationError as exc:
                self.message_user(request, f"{workspace}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{workspace}: {action} done.", messages.SUCCESS)

    @admin.action(description="Start")
    def start(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "start")

    @admin.action(description="Stop")
    def stop(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "stop")

    @admin.action(description="Restart")
    def restart(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        self._each(request, queryset, "restart")


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
