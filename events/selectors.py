"""Reading a job's event stream, and who may read it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ValidationError

from .models import EventKind, JobEvent

# kind ("workspace", "build" …) → may this user see job <kind>:<pk>? Registered by the app that
# owns the job, in its AppConfig.ready(); an unknown kind is visible to nobody.
_SCOPES: dict[str, Callable[[Any, str], bool]] = {}


def register_job_kind(kind: str, may_view: Callable[[Any, str], bool]) -> None:
    _SCOPES[kind] = may_view


def job_visible(*, user: Any, kind: str, pk: str) -> bool:
    """`pk` comes from the URL: a key its model cannot hold (text for an int) is nobody's job."""
    check = _SCOPES.get(kind)
    if user is None or not user.is_active or check is None:
        return False
    try:
        return bool(check(user, pk))
    except (ValueError, ValidationError):
        return False


def events_after(*, job: str, after: int = 0, limit: int = 200) -> list[JobEvent]:
    return list(JobEvent.objects.filter(job=job, id__gt=after).order_by("id")[:limit])


def events_follow(
    *, job: str, after: int = 0, timeout: float, on_quiet: Callable[[], None] | None = None
) -> Iterator[JobEvent]:
    """The job's events after `after` as they come, up to its `done` or `failed` (the shell's
    `--wait` commands). `on_quiet` is called once if nothing comes in the first 3 s (no worker?);
    TimeoutError when no end came within `timeout` seconds."""
    started = time.monotonic()
    deadline, quiet_said = started + timeout, on_quiet is None
    while time.monotonic() < deadline:
        for event in events_after(job=job, after=after):
            after, quiet_said = event.pk, True
            yield event
            if event.kind in (EventKind.DONE, EventKind.FAILED):
                return
        if not quiet_said and time.monotonic() - started > 3:
            quiet_said = True
            on_quiet()  # type: ignore[misc]
        time.sleep(0.3)
    raise TimeoutError(f"No end after {timeout:.0f}s")


def events_last_id(*, job: str) -> int:
    """Where a page rendered now starts listening: only what happens after it counts."""
    return JobEvent.objects.filter(job=job).order_by("-id").values_list("id", flat=True).first() or 0
