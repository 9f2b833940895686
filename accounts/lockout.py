"""django-axes hooks: which username a login attempt counts against, and the lockout answer."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The API logs in with `email`, the Django admin with `username` (also the email)."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    return value.strip().lower() if isinstance(value, str) else None


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def attempts_left(request: HttpRequest, email: str) -> int:
    """Failed log-ins this account may still have from this address before its lock-out."""
    from axes.handlers.proxy import AxesProxyHandler

    failures = AxesProxyHandler.get_failures(request, {"email": email})
    return max(int(settings.AXES_FAILURE_LIMIT) - failures, 0)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    # The API's login view has already answered 429 in the envelope; keep it.
    if request.path.startswith("/api/") and original_response is not None:
        return original_response
    return HttpResponse(
        f"Too many failed log-ins for this account from this address; try again in {lockout_minutes()} "
        "minutes.",
        status=429,
        content_type="text/plain",
    )
