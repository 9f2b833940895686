"""`--wait` in management commands: a job's stream printed as it comes (approve_user, delete_user)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from .models import EventKind, JobEvent
from .selectors import events_follow

_QUIET = "  … waiting for a worker"


def job_follow(command: BaseCommand, *, job: str, after: int, timeout: float, failed: str = "{}") -> JobEvent:
    """Print the job's steps and log lines until it ends and return its `done` event. Its `failed`
    event is a CommandError (`failed` formats the event's text), and so is no end within `timeout`."""
    events = events_follow(
        job=job,
        after=after,
        timeout=timeout,
        on_quiet=lambda: command.stdout.write(_QUIET),
    )
    try:
        for event in events:
            if event.kind == EventKind.STEP:
                command.stdout.write(
                    f"  → {event.text} ({event.data.get('index')}/{event.data.get('total')})"
                )
            elif event.kind == EventKind.LOG:
                command.stdout.write(f"    {event.text}")
            elif event.kind == EventKind.DONE:
                return event
            else:
                raise CommandError(failed.format(event.text))
    except TimeoutError as exc:
        raise CommandError(f"{exc}; is a worker consuming the queues?") from exc
    raise AssertionError("unreachable: a followed job ends with done or failed, or times out")
