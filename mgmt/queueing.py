"""Services queue work by the task's name: tasks import services, never the other way round, so
the two never form an import cycle (an import-linter contract in pyproject.toml keeps it so)."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction


def task_named(name: str) -> Any:
    """The registered Celery task `name` ("<app>.tasks.<function>"); every process registers the
    apps' tasks as it starts (mgmt/apps.py), this looks again only for a late import."""
    if name not in current_app.tasks:
        current_app.autodiscover_tasks(force=True)
    return current_app.tasks[name]


def enqueue_on_commit(name: str, *args: Any) -> None:
    """Queue task `name` with `args` once the current transaction commits (never for rolled-back work)."""
    task = task_named(name)  # an unknown name fails here, inside the service, not after the commit
    transaction.on_commit(lambda: task.delay(*args))
