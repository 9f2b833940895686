"""The operator UI for accounts. Changes go through the same services as the API (which write
the audit rows): status, role, password reset and ending a person's sessions."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache

from mgmt.admin_mixins import ServiceErrorsAdminMixin
from mgmt.exceptions import ApplicationError

from . import services
from .models import User, UserSession, UserStatus, UserType
from .permissions import user_has_permission


class RoleForm(forms.Form):
    user_type = forms.ChoiceField(label="Role", choices=UserType.choices)


def _generated_password() -> str:
    """A new random password for a reset (shown once to the operator, never stored in clear)."""
    return secrets.token_urlsafe(12)


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
    actions = ("disable_accounts", "enable_accounts", "end_sessions", "change_role")

    # --- per-person operations (buttons on the change page) ---------------------------------------
    def _may_manage(self, request: HttpRequest) -> bool:
        return user_has_permission(request.user, "manage_users")

    def _require(self, request: HttpRequest) -> None:
        if not self._may_manage(request):
            raise PermissionDenied("Your role does not allow this action.")

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/role/", wrap(self.role_view), name="accounts_user_role"),
            path("<int:pk>/password/", wrap(never_cache(self.password_view)), name="accounts_user_password"),
            path("<int:pk>/sessions/end/", wrap(self.end_sessions_view), name="accounts_user_end_sessions"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {**(extra_context or {}), "may_manage_users": self._may_manage(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _person(self, request: HttpRequest, pk: int) -> User:
        self._require(request)
        return get_object_or_404(User, pk=pk)

    def _page(self, request: HttpRequest, person: User, template: str, **extra: Any) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": person,
            "person": person,
            **extra,
        }
        return TemplateResponse(request, f"admin/accounts/user/{template}", context)

    def _to_change_page(self, person: User) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[person.pk]))

    def role_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self._person(request, pk)
        form = RoleForm(request.POST or None, initial={"user_type": person.user_type})
        if request.method == "POST" and form.is_valid():
            try:
                services.user_update(
                    actor=request.user, user=person, user_type=form.cleaned_data["user_type"]
                )
            except ApplicationError as exc:
                self.message_user(request, f"{person}: {exc.message}", messages.ERROR)
            else:
                person.refresh_from_db()
                self.message_user(
                    request,
                    f"{person}: role is now {person.get_user_type_display()}; sessions ended.",
                    messages.SUCCESS,
                )
            return self._to_change_page(person)
        return self._page(request, person, "role.html", title=f"Change the role of {person}", form=form)

    def password_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: confirm. POST: set a generated password and show it on this answer only (not in a
        message, which would be stored in the session until shown)."""
        person = self._person(request, pk)
        if request.method != "POST":
            return self._page(request, person, "password.html", title=f"Reset the password of {person}")
        password = _generated_password()
        try:
            services.user_password_reset(actor=request.user, user=person, password=password)
        except ApplicationError as exc:
            self.message_user(request, f"{person}: {exc.message}", messages.ERROR)
            return self._to_change_page(person)
        # never_cache (get_urls) keeps the answer out of every cache.
        return self._page(
            request, person, "password.html", title=f"New password of {person}", password=password
        )

    def end_sessions_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self._person(request, pk)
        if request.method == "POST":
            ended = self._end_sessions(request, person)
            self.message_user(request, f"{person}: {ended} session(s) ended.", messages.SUCCESS)
        return self._to_change_page(person)

    def _end_sessions(self, request: HttpRequest, person: User) -> int:
        """Each live session through `session_revoke` (one audit row each), as the sessions page does."""
        ended = 0
        for session in UserSession.objects.filter(user=person, is_active=True).select_related("user"):
            services.session_revoke(session=session, actor=request.user)
            ended += 1
        return ended

    @admin.action(description="End every session of the selected people", permissions=["change"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = sum(self._end_sessions(request, person) for person in queryset)
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)

    @admin.action(description="Change the role of the selected people", permissions=["change"])
    def change_role(self, request: HttpRequest, queryset: QuerySet[User]) -> TemplateResponse | None:
        form = RoleForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for person in queryset:
                try:
                    services.user_update(
                        actor=request.user, user=person, user_type=form.cleaned_data["user_type"]
                    )
                    done += 1
                except ApplicationError as exc:
                    self.message_user(request, f"{person}: {exc.message}", messages.ERROR)
            if done:
                self.message_user(request, f"{done} role(s) changed; their sessions ended.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Change roles",
            "people": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/accounts/user/role.html", context)

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
