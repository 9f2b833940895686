"""The permission matrix (the original's utils/permissions.py), in one place.

`has_permission(user_type, perm)` answers from the matrix; `RequirePermission`
is the DRF permission class that views declare. Extend `MATRIX` as features
arrive; nothing else hard-codes who may do what.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .models import UserType

ADMIN, QVP, REGULAR = UserType.ADMIN, UserType.QVP, UserType.REGULAR

MATRIX: dict[str, frozenset[str]] = {
    "view_dashboard": frozenset({ADMIN, QVP}),
    "manage_users": frozenset({ADMIN}),
    "view_servers": frozenset({ADMIN, QVP}),
    "manage_servers": frozenset({ADMIN}),
    "delete_server": frozenset({ADMIN}),
    "view_images": frozenset({ADMIN, QVP}),
    "delete_image": frozenset({ADMIN}),
    "manage_images": frozenset({ADMIN}),  # registries, allowed images, projects
    "build_images": frozenset({ADMIN, QVP}),
    "push_images": frozenset({ADMIN, QVP}),
    "upload_guest_os": frozenset({ADMIN, QVP}),
    "delete_upload": frozenset({ADMIN}),
    "view_audit_logs": frozenset({ADMIN}),
    "view_traffic": frozenset({ADMIN, QVP}),
    "manage_workspaces": frozenset({ADMIN}),
}


def has_permission(user_type: str | None, perm: str) -> bool:
    """True when the matrix grants `perm` to `user_type`; unknown permissions are refused."""
    if perm not in MATRIX:
        raise KeyError(f"Unknown permission {perm!r}: add it to accounts.permissions.MATRIX")
    return user_type in MATRIX[perm]


def user_has_permission(user: Any, perm: str) -> bool:
    """The matrix's answer for a person; only active accounts (not pending, disabled…) get any."""
    return bool(
        user
        and user.is_authenticated
        and getattr(user, "is_account_active", False)
        and has_permission(getattr(user, "user_type", None), perm)
    )


class RequirePermission(BasePermission):
    """`permission_classes = [RequirePermission("manage_users")]` on a view."""

    message = "Your role does not allow this action."

    def __init__(self, perm: str) -> None:
        if perm not in MATRIX:
            raise KeyError(f"Unknown permission {perm!r}")
        self.perm = perm

    def __call__(self) -> RequirePermission:
        # DRF instantiates permission classes; an instance stands in for its class.
        return self

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_has_permission(request.user, self.perm)


class ActionPermissionMixin:
    """Viewsets name the matrix permission of each action in `action_permissions`.

    An action missing from the table (DRF's own `metadata`, say) needs
    `default_action_permission`, so a new action is never left open by accident.
    """

    action_permissions: dict[str, str] = {}
    default_action_permission: str = "manage_users"

    def get_permissions(self) -> list[BasePermission]:
        action = getattr(self, "action", None)
        if action == "metadata":  # OPTIONS answers to whoever may GET the route (mgmt.api.metadata)
            action = getattr(self, "action_map", {}).get("get", action)
        return [RequirePermission(self.action_permissions.get(action, self.default_action_permission))]
