"""Services queue work by the task's name: tasks import services, never the other way round, so
the two never form an import cycle (an import-linter contract in pyproject.toml keeps it so)."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError
from loguru import logger


def task_named(name: str) -> Any:
    """The registered Celery task `name` ("<app>.tasks.<function>"); every process registers the
    apps' tasks as it starts (mgmt/apps.py), this looks again only for a late import."""
    if name not in current_app.tasks:
        current_app.autodiscover_tasks(force=True)
    return current_app.tasks[name]


def enqueue_on_commit(name: str, *args: Any) -> None:
    """Queue task `name` with `args` once the current transaction commits (never for rolled-back work).

    The work is committed by then. Should the broker not take the task (Redis down), the answer
    must not turn into a 500 for work that was done: the saga's row stays in its status, and the
    reconciler runs a workspace stuck there itself (RECONCILE_STUCK_MINUTES)."""
    task = task_named(name)  # an unknown name fails here, inside the service, not after the commit

    def send() -> None:
        try:
            task.delay(*args)
        except OperationalError as exc:
            logger.error("The broker did not take {}{}: {}; the reconciler resumes it", name, args, exc)

    transaction.on_commit(send)
