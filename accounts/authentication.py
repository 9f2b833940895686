"""DRF authentication by session token: `Authorization: Bearer <token>` or the workspace cookie.

A cookie is sent by the browser on its own, so a cookie-authenticated unsafe
request must pass Django's CSRF check, exactly as with DRF's SessionAuthentication.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, CSRFCheck, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from .selectors import session_get_live, token_from_request
from .services import session_touch


class SessionTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        token, from_cookie = token_from_request(request)
        if token is None:
            if not from_cookie and request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer"):
                raise AuthenticationFailed("The Authorization header has no token.")
            return None
        session = session_get_live(token=token)
        if session is None:
            if from_cookie:
                # A stale cookie makes the request anonymous (public pages keep working).
                return None
            raise AuthenticationFailed("The session token is invalid or has expired; log in again.")
        if from_cookie:
            self.enforce_csrf(request)
        session_touch(session=session)
        return session.user, session

    def enforce_csrf(self, request: Request) -> None:
        check = CSRFCheck(lambda _request: None)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise PermissionDenied(f"CSRF Failed: {reason}")

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ActiveSessionAuthentication(SessionAuthentication):
    """The browsable API's Django session (staff logged in to the admin), for active accounts only.

    DRF's own class checks `is_active` alone, which a pending or rejected sign-up still has.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        user = getattr(request._request, "user", None)
        if not getattr(user, "is_account_active", False):
            return None
        self.enforce_csrf(request)
        return user, None
