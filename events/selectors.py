"""Reading a job's event stream, and who may read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .models import JobEvent

# kind ("workspace", "build" …) → may this user see job <kind>:<pk>? Registered by the app that
# owns the job, in its AppConfig.ready(); an unknown kind is visible to nobody.
_SCOPES: dict[str, Callable[[Any, int], bool]] = {}


def register_job_kind(kind: str, may_view: Callable[[Any, int], bool]) -> None:
    _SCOPES[kind] = may_view


def job_visible(*, user: Any, kind: str, pk: int) -> bool:
    check = _SCOPES.get(kind)
    return bool(user is not None and user.is_active and check is not None and check(user, pk))


def events_after(*, job: str, after: int = 0, limit: int = 200) -> list[JobEvent]:
    return list(JobEvent.objects.filter(job=job, id__gt=after).order_by("id")[:limit])


def events_last_id(*, job: str) -> int:
    """Where a page rendered now starts listening: only what happens after it counts."""
    return JobEvent.objects.filter(job=job).order_by("-id").values_list("id", flat=True).first() or 0
