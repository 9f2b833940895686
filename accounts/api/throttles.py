from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from mgmt.client_ip import client_ip


class RegisterThrottle(SimpleRateThrottle):
    """Sign-ups per client address (REGISTER_RATE_LIMIT, e.g. "20/hour"; empty = no limit).

    The address comes from mgmt.client_ip, so a forged X-Forwarded-For does not
    give a fresh allowance (DRF's default identity would trust it).
    """

    scope = "register"

    def get_rate(self) -> str | None:
        return settings.REGISTER_RATE_LIMIT or None

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}
