"""The session cookie that the API, the pages and nginx's workspace routes share."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse


def session_cookie_set(response: HttpResponse, token: str) -> HttpResponse:
    response.set_cookie(
        settings.SESSION_COOKIE_NAME_WORKSPACE,
        token,
        max_age=int(settings.SESSION_TOKEN_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def session_cookie_clear(response: HttpResponse) -> HttpResponse:
    response.delete_cookie(settings.SESSION_COOKIE_NAME_WORKSPACE, samesite="Lax")
    return response
