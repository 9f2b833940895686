"""OpenAPI description of the session-token authentication (loaded by AccountsConfig.ready)."""

from django.conf import settings
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionTokenAuthentication"
    name = ["bearerAuth", "tokenCookieAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "The token returned by /api/auth/login."},
            {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME_WORKSPACE},
        ]


class ActiveSessionScheme(SessionScheme):
    """The browsable API's Django session: DRF's session scheme, for its active-accounts subclass."""

    target_class = "accounts.authentication.ActiveSessionAuthentication"
