"""Transient database errors: which they are, and running a transaction again after one.

Under concurrent writes MySQL/MariaDB may pick a transaction as a deadlock victim (1213) and
roll it back whole, or give up waiting for a row lock (1205). Neither is a bug in the
request: the first is safe to run again at once (`atomic_retry`), and whatever is still
transient when it reaches the API becomes a 503 "try again" (`mgmt.api.exceptions`),
never a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection, transaction
from loguru import logger

T = TypeVar("T")

DEADLOCK = 1213
LOCK_WAIT_TIMEOUT = 1205
# Errors after which the database is fine again a moment later (MySQL/MariaDB codes).
_TRANSIENT = {
    DEADLOCK: "a deadlock with another transaction",
    LOCK_WAIT_TIMEOUT: "a lock wait timeout",
    1040: "too many connections",
    2006: "the database server went away",
    2013: "the connection to the database was lost",
}


def db_error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def db_error_transient(exc: BaseException) -> str | None:
    """What a transient database error was ("a deadlock …"), or None for any other error."""
    if not isinstance(exc, OperationalError):
        return None
    code = db_error_code(exc)
    if code in _TRANSIENT:
        return _TRANSIENT[code]
    if "database is locked" in str(exc):  # SQLite (the embedded default)
        return "the database being locked by another writer"
    return None


def atomic_retry(operation: Callable[[], T], *, attempts: int = 3) -> T:
    """Run `operation` in a transaction of its own; run it again when the database rolled it
    back as a deadlock victim (up to `attempts` times, with a little jitter).

    Inside an outer transaction there is nothing to retry (the deadlock rolled the outer
    one back too): the error goes up unchanged.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            return operation()
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return operation()
        except OperationalError as exc:
            if db_error_code(exc) != DEADLOCK or attempt == attempts:
                raise
            logger.warning(
                "Deadlock victim, running the transaction again ({}/{}): {}", attempt, attempts, exc
            )
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 (jitter, not a secret)
    raise AssertionError("unreachable")  # pragma: no cover
