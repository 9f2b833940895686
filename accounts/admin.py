"""The operator UI for accounts. Changes go through the same services as the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mgmt.admin_mixins import ServiceErrorsAdminMixin
from mgmt.exceptions import ApplicationError

from . import services
from .models import User, UserSession, UserStatus


@admin.register(User)
class UserAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("username", "email", "user_type", "status", "is_approved", "created_at", "last_login")
    list_filter = ("user_type", "status", "is_approved")
    search_fields = ("username", "email")
    ordering = ("-created_at",)
    # Rights and status change only through actions/services (sessions revoked, audited).
    fields = (
        "username", "email", "user_type", "status", "is_approved", "redirect_url", "metadata",
        "created_at", "last_login",
    )  # fmt: skip
    readonly_fields = ("username", "email", "user_type", "status", "is_approved", "created_at", "last_login")
    actions = ("disable_accounts", "enable_accounts")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sign-ups come through the API, admins through `manage.py create_admin`

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        # A refusal becomes a form error (ServiceErrorsAdminMixin), not a "changed" page.
        services.user_update(
            actor=request.user,
            user=obj,
            redirect_url=form.cleaned_data.get("redirect_url"),
            metadata=form.cleaned_data.get("metadata"),
        )

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_delete(actor=request.user, user=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            self.delete_model(request, user)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[User], status: str) -> None:
        done = 0
        for user in queryset:
            try:
                services.user_update(actor=request.user, user=user, status=status)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{user}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done} account(s) set to {status}.")

    @admin.action(description="Disable the selected accounts", permissions=["change"])
    def disable_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_status(request, queryset, UserStatus.DISABLED)

    @admin.action(description="Re-enable the selected disabled accounts", permissions=["change"])
    def enable_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_status(request, queryset, UserStatus.ACTIVE)


@admin.register(UserSession)
class UserSessionAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Sessions are read-only here (the token hash is never shown)."""

    list_display = ("user", "created_at", "expires_at", "is_active", "ip_address", "last_seen")
    list_filter = ("is_active",)
    search_fields = ("user__username", "user__email", "ip_address")
    fields = (
        "user",
        "created_at",
        "expires_at",
        "is_active",
        "revoked_at",
        "ip_address",
        "user_agent",
        "last_seen",
    )
    readonly_fields = fields
    actions = ("revoke_sessions",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: UserSession | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected sessions", permissions=["change"])
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[UserSession]) -> None:
        for session in queryset.filter(is_active=True).select_related("user"):
            services.session_revoke(session=session, actor=request.user)
