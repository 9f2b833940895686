"""Roles → Django admin: the one place that maps the matrix onto model permissions.

`accounts.permissions.MATRIX` stays the source of who may do what. Here each
matrix permission names the Django model permissions it implies, and
`role_groups_sync()` gives the groups "admin" and "qvp" exactly the model
permissions of the matrix permissions their user type has — so a qvp sees and
does in `/admin/` what the matrix allows and nothing more. Later apps add their
models to `MODEL_PERMISSIONS`. The sync runs after every `migrate`
(post_migrate) and with `manage.py sync_roles`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Q
from guardian.shortcuts import assign_perm, remove_perm

from .models import User, UserType
from .permissions import MATRIX, has_permission, user_has_permission

# matrix permission → Django model permissions ("app_label.codename") it grants in the admin.
MODEL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "view_dashboard": (),
    "manage_users": (
        "accounts.view_user",
        "accounts.change_user",
        "accounts.delete_user",
        "accounts.view_usersession",
        "accounts.change_usersession",
    ),
    "view_servers": (),
    "manage_servers": (
        "maintenance.view_reconcilerun",
        "maintenance.view_cleanuppolicy",
        "maintenance.change_cleanuppolicy",
        "containers.view_routeactivity",
    ),
    "delete_server": (),
    "view_images": ("builds.view_guestupload", "registry.view_registry", "registry.view_allowedimage"),
    "delete_image": (),
    "manage_images": (
        "registry.add_registry",
        "registry.change_registry",
        "registry.delete_registry",
        "registry.add_allowedimage",
        "registry.change_allowedimage",
        "registry.delete_allowedimage",
        "builds.view_project",
        "builds.add_project",
        "builds.change_project",
        "builds.delete_project",
    ),
    "build_images": ("builds.view_build",),
    "push_images": (),
    "upload_guest_os": (),  # through the chunked API only
    "delete_upload": ("builds.delete_guestupload",),
    "view_audit_logs": ("audit.view_auditlog",),
    "view_traffic": (),
    "manage_workspaces": (
        "containers.view_workspace",
        "containers.change_workspace",
        "containers.operate_workspace",
    ),
}

# The Django group that mirrors each operator type; regular users belong to none.
ROLE_GROUPS: dict[str, str] = {UserType.ADMIN: "admin", UserType.QVP: "qvp"}


def role_model_permissions(user_type: str) -> set[str]:
    """Every model permission ("app_label.codename") the matrix gives to `user_type`."""
    granted: set[str] = set()
    for perm in MATRIX:
        if has_permission(user_type, perm):
            granted.update(MODEL_PERMISSIONS.get(perm, ()))
    return granted


def _permission_objects(labels: set[str]) -> list[Permission]:
    if not labels:
        return []
    query = Q()
    for label in labels:
        app_label, codename = label.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type"))
    missing = labels - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"accounts.roles.MODEL_PERMISSIONS names unknown permissions: {sorted(missing)}")
    return found


@transaction.atomic
def role_groups_sync() -> None:
    """Make the role groups' permissions and memberships match the matrix and the user types."""
    unknown = set(MODEL_PERMISSIONS) ^ set(MATRIX)
    if unknown:
        raise LookupError(f"MATRIX and MODEL_PERMISSIONS disagree on: {sorted(unknown)}")
    for user_type, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permission_objects(role_model_permissions(user_type)))
    # Operators, plus anyone still in a role group or flagged superuser (stale after a type change).
    concerned = User.objects.filter(
        Q(user_type__in=ROLE_GROUPS) | Q(groups__name__in=ROLE_GROUPS.values()) | Q(is_superuser=True)
    ).distinct()
    for user in concerned.only("pk", "user_type", "is_superuser"):
        user_role_sync(user=user)


def user_role_sync(*, user: User) -> None:
    """Put `user` in the group of their type (and only that one); admins are superusers."""
    wanted = ROLE_GROUPS.get(user.user_type)
    groups = list(Group.objects.filter(name=wanted)) if wanted else []
    user.groups.remove(*Group.objects.filter(name__in=ROLE_GROUPS.values()).exclude(name=wanted))
    if groups:
        user.groups.add(*groups)
    superuser = user.user_type == UserType.ADMIN
    if user.is_superuser != superuser:
        User.objects.filter(pk=user.pk).update(is_superuser=superuser)
        user.is_superuser = superuser


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate receiver (sender: the accounts app).

    Apps later in INSTALLED_APPS get their permissions in their own post_migrate
    turn, after this one; creating them first (idempotent) lets the sync name them.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    using = kwargs.get("using", "default")
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=global_apps)
    role_groups_sync()


class MatrixModelAdmin(admin.ModelAdmin):
    """An admin page whose rights are matrix permissions, named per right (None: nobody may).

    For models whose rights are not plain model permissions (a singleton, an action that is
    really a service call); everything else gets its rights through the role groups above.
    """

    view_permission: str | None = None
    add_permission: str | None = None
    change_permission: str | None = None
    delete_permission: str | None = None

    def _granted(self, request: Any, perm: str | None) -> bool:
        return perm is not None and user_has_permission(request.user, perm)

    def require(self, request: Any, *perms: str) -> None:
        """Refuse (403) unless the matrix grants every one of `perms` (default: the view right),
        for the admin's own views and buttons that are service calls."""
        wanted = perms or (self.view_permission,)
        if not all(self._granted(request, perm) for perm in wanted):
            raise PermissionDenied("Your role does not allow this action.")

    def has_module_permission(self, request: Any) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return self._granted(request, self.view_permission) or self._granted(request, self.change_permission)

    def has_add_permission(self, request: Any) -> bool:
        return self._granted(request, self.add_permission)

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return self._granted(request, self.change_permission)

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return self._granted(request, self.delete_permission)


def owner_permissions_grant(*, user: User, obj: models.Model, actions: tuple[str, ...] = ("view",)) -> None:
    """Give a regular user object permissions (guardian) on their own object, e.g. their workspace.

    `mgmt.api.viewsets.ScopedGenericViewSet` then shows the object to them and
    answers 404 to everyone else without a role permission.
    """
    meta = obj._meta
    for action in actions:
        assign_perm(f"{meta.app_label}.{action}_{meta.model_name}", user, obj)


def owner_permissions_revoke(*, user: User, obj: models.Model, actions: tuple[str, ...] = ("view",)) -> None:
    meta = obj._meta
    for action in actions:
        remove_perm(f"{meta.app_label}.{action}_{meta.model_name}", user, obj)
