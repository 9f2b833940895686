"""Accounts: read-only queries used by the API, the admin, commands and nginx's auth_request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import User, UserQuerySet, UserSession, UserStatus
from .tokens import token_hash, token_matches

_MAX_TOKEN_LENGTH = 256


def session_get_live(*, token: str | None) -> UserSession | None:
    """The live session of a token with its user, in one indexed query; None when not valid.

    Every authenticated API call and page runs it: keep it one query.
    """
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    digest = token_hash(token)
    try:
        session = UserSession.objects.select_related("user").get(
            token_hash=digest,
            is_active=True,
            expires_at__gt=timezone.now(),
            user__is_active=True,
            user__status=UserStatus.ACTIVE,
        )
    except UserSession.DoesNotExist:
        return None
    return session if token_matches(token, session.token_hash) else None


def token_from_request(request: Any) -> tuple[str | None, bool]:
    """(token, came_from_cookie): the Bearer header first, then the workspace cookie."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip() or None, False
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME_WORKSPACE)
    return (cookie or None), True


def cookie_session(request: Any) -> UserSession | None:
    """The live session of the request's workspace cookie (the pages' and the edge's sign-in)."""
    return session_get_live(token=request.COOKIES.get(settings.SESSION_COOKIE_NAME_WORKSPACE))


def request_session_user(request: Any) -> User | None:
    """The person whose live session token the request carries (Bearer header or cookie), or None."""
    session = session_get_live(token=token_from_request(request)[0])
    return session.user if session else None


def user_list(*, user: User) -> UserQuerySet:
    """Accounts `user` may see, newest first (filters are applied by the API's FilterSet)."""
    return User.objects.visible_to(user).order_by("-created_at", "-id")


def user_list_pending() -> UserQuerySet:
    return User.objects.pending().order_by("created_at", "id")


def user_redirect_url(*, user: User) -> str:
    """Where the front end sends a person after login."""
    if user.redirect_url:
        return user.redirect_url
    if user.is_staff:
        return "/admin/"
    return "/workspace"


def pending_signups() -> UserQuerySet:
    """Sign-ups waiting for an operator, oldest first (the admin's dashboard and list)."""
    return User.objects.pending().order_by("created_at", "id")
