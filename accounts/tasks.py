"""Thin Celery tasks of the accounts app."""

from __future__ import annotations

import smtplib

from celery import shared_task

from .services import sessions_purge_expired, user_signup_attempt_notify


@shared_task(name="accounts.tasks.sessions_purge_expired_task")
def sessions_purge_expired_task() -> int:
    """Delete sessions that expired more than 30 days ago (idempotent)."""
    return sessions_purge_expired()


@shared_task(
    name="accounts.tasks.user_signup_attempt_notify_task",
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    max_retries=5,
)
def user_signup_attempt_notify_task(user_id: int) -> bool:
    """Mail the owner of an address someone tried to sign up with (off the request: no timing tell)."""
    return user_signup_attempt_notify(user_id=user_id)
