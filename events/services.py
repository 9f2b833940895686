"""Publishing to a job's event stream. Best effort: a lost event never fails the job itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from loguru import logger

from .models import EventKind, JobEvent

_MAX_TEXT = 4000


def job_key(kind: str, pk: Any) -> str:
    """ "<kind>:<primary key>": an int, or a UUID in its dashed form (uploads)."""
    return f"{kind}:{pk}"


def event_publish(*, job: str, kind: EventKind | str, text: str = "", **data: Any) -> JobEvent | None:
    """Append one event to `job`'s stream (the SSE view streams it to whoever may see the job)."""
    try:
        return JobEvent.objects.create(job=job, kind=str(kind), text=text[:_MAX_TEXT], data=data)
    except DatabaseError as exc:
        logger.warning("Event of {} not recorded: {!r}", job, exc)
        return None


def events_purge(*, now: Any = None) -> int:
    """Drop events older than EVENTS_RETENTION_DAYS (finished jobs keep their outcome elsewhere)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    deleted, _ = JobEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
