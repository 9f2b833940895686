"""Route activity: when a request last went through a person's workspace routes.

Written by the edge's verify (nginx asks it once per cookie and host per
EDGE_AUTH_CACHE_SECONDS), read by the idle-workspace stop (maintenance). At most
one write a minute per person.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from .models import RouteActivity, Workspace, WorkspaceStatus

_WRITE_EVERY = 60  # seconds


def route_activity_touch(*, username: str, user_id: int | None = None, now: datetime | None = None) -> None:
    """Record a request through `username`'s routes; pass `user_id` when it is known (saves a query).

    Within a minute of the last write this costs one cache round trip and no query.
    """
    if user_id is None:
        from accounts.models import User

        user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
        if user_id is None:
            return
    if not cache.add(f"maintenance:route-activity:{user_id}", 1, _WRITE_EVERY):
        return
    at = now or timezone.now()
    if not RouteActivity.objects.filter(user_id=user_id).update(last_request_at=at):
        RouteActivity.objects.get_or_create(user_id=user_id, defaults={"last_request_at": at})


def workspace_idle_stop_at(*, workspace: Workspace) -> datetime | None:
    """When the idle stop (maintenance) stops this active workspace if it stays unused: its last
    request through the edge, or its last start, plus WORKSPACE_IDLE_STOP_MINUTES."""
    minutes = settings.WORKSPACE_IDLE_STOP_MINUTES
    if minutes <= 0 or workspace.status != WorkspaceStatus.ACTIVE:
        return None
    activity = RouteActivity.objects.filter(user_id=workspace.owner_id)
    last_request = activity.values_list("last_request_at", flat=True).first()
    last_use = max(filter(None, (last_request, workspace.updated_at)))
    return last_use + timedelta(minutes=minutes)
