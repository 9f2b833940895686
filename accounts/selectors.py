"""Accounts: read-only queries used by the API, the admin, commands and nginx's auth_request."""

from __future__ import annotations

import posixpath
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.utils import timezone

from .models import User, UserQuerySet, UserSession, UserStatus, UserType
from .tokens import token_hash, token_matches

_MAX_TOKEN_LENGTH = 256


def session_get_live(*, token: str | None) -> UserSession | None:
    """The live session of a token with its user, in one indexed query; None when not valid.

    This is what `/api/auth/verify` runs on every workspace request: keep it one query.
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


def workspace_owner_from_uri(uri: str | None) -> str | None:
    """The username a workspace URI belongs to (`/<username>/vscode/...`), after normalising it.

    nginx matches locations on the normalised path while `$request_uri` is raw, so
    `/alice/../bob/vscode/` must count as bob's.
    """
    if not uri:
        return None
    path = unquote(urlsplit(uri).path)
    if "\x00" in path or "\\" in path:
        return None
    path = posixpath.normpath("/" + re.sub(r"/+", "/", path))
    first = path.lstrip("/").split("/", 1)[0]
    return first or None


def workspace_access_allowed(*, user: User, uri: str | None) -> bool:
    """May `user` open `uri`? Admins everything, everyone else their own workspace only."""
    if user.user_type == UserType.ADMIN:
        return True
    return workspace_owner_from_uri(uri) == user.username


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
    return f"/{user.username}/vscode/"
