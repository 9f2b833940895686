"""Projects (the original's project repository): create, update, delete, and their members.

Members are operators; each gets the project's object permissions (guardian), which
decide who sees a project and who may build in it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from accounts.permissions import user_has_permission
from audit.services import audit_log_record
from mgmt.exceptions import Conflict

from ..models import ACTIVE_BUILD_STATUSES, BuildStatus, Project

_PROJECT_PERMS = ("view_project", "build_in_project")


@transaction.atomic
def project_create(*, actor: Any, name: str, description: str = "") -> Project:
    if Project.objects.filter(name=name).exists():
        raise Conflict(f"name: a project called {name!r} exists already.")
    project = Project.objects.create(name=name, description=description, created_by=actor)
    if user_has_permission(actor, "build_images") and not user_has_permission(actor, "manage_images"):
        _member_grant(project, actor)  # a qvp sees only their projects: they join the one they make
    audit_log_record(action="project.create", actor=actor, target=project, details={"name": name})
    return project


@transaction.atomic
def project_update(*, actor: Any, project: Project, description: str) -> Project:
    project.description = description
    project.save(update_fields=["description"])
    audit_log_record(action="project.update", actor=actor, target=project, details={"name": project.name})
    return project


@transaction.atomic
def project_delete(*, actor: Any, project: Project) -> None:
    if project.builds.filter(status__in=(BuildStatus.QUEUED, *ACTIVE_BUILD_STATUSES)).exists():
        raise Conflict("The project has builds that are still queued or running.")
    audit_log_record(action="project.delete", actor=actor, target=project, details={"name": project.name})
    project.delete()


def _member_grant(project: Project, user: Any) -> None:
    project.members.add(user)
    for perm in _PROJECT_PERMS:
        assign_perm(f"builds.{perm}", user, project)


@transaction.atomic
def project_member_add(*, actor: Any, project: Project, user: Any) -> Project:
    """Members are operators (admin or qvp): regular users have no access to builds at all."""
    if not user_has_permission(user, "build_images") or not user.is_active:
        raise Conflict(f"user: {user.username} is not an active operator (admin or qvp).")
    _member_grant(project, user)
    audit_log_record(
        action="project.member_add", actor=actor, target=project, details={"user": user.username}
    )
    return project


@transaction.atomic
def project_member_remove(*, actor: Any, project: Project, user: Any) -> Project:
    project.members.remove(user)
    for perm in _PROJECT_PERMS:
        remove_perm(f"builds.{perm}", user, project)
    audit_log_record(
        action="project.member_remove", actor=actor, target=project, details={"user": user.username}
    )
    return project
