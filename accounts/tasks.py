"""Thin Celery tasks of the accounts app."""

from __future__ import annotations

from celery import shared_task

from .services import sessions_purge_expired


@shared_task(name="accounts.tasks.sessions_purge_expired_task")
def sessions_purge_expired_task() -> int:
    """Delete sessions that expired more than 30 days ago (idempotent)."""
    return sessions_purge_expired()
