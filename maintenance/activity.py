"""Route activity: when a request last went through a person's workspace routes.

Written by /api/auth/verify (nginx asks it for every proxied request), read by
the idle-workspace stop. At most one write a minute per person.
"""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from .models import RouteActivity

_WRITE_EVERY = 60  # seconds


def route_activity_touch(*, username: str, now: datetime | None = None) -> None:
    """Record a request through `username`'s routes (no write when one was recorded this minute)."""
    from accounts.models import User

    user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    if user_id is None or not cache.add(f"maintenance:route-activity:{user_id}", 1, _WRITE_EVERY):
        return
    RouteActivity.objects.update_or_create(
        user_id=user_id, defaults={"last_request_at": now or timezone.now()}
    )
