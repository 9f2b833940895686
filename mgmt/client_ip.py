"""The client's address, correct behind the configured number of trusted proxies.

Each trusted proxy (nginx: `proxy_add_x_forwarded_for`) appends the address it
saw to `X-Forwarded-For`, so the client is the entry the outermost trusted proxy
appended: the N-th from the right. Anything left of it was written by the client
and is ignored, so a spoofed header cannot change the address (nor reset a
lockout counter). With no trusted proxy the socket address is used.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: Any) -> str | None:
    meta = getattr(request, "META", {})
    remote = _valid_ip(meta.get("REMOTE_ADDR", "") or "")
    hops = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        # The request did not come through every trusted proxy: trust only the socket.
        return remote
    return _valid_ip(forwarded[-hops]) or remote
