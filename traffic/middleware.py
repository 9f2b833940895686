"""The middleware that counts every request into `traffic.counters`.

Health and metrics endpoints are not counted (`TRAFFIC_EXCLUDED_PATHS`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from loguru import logger

from .counters import UNMATCHED, record_request

_NAMED_GROUP_RE = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_of(request: HttpRequest) -> str:
    """The route template ("/api/servers/<pk>"), never the concrete path: ids do not explode the keys."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED
    if match.url_name is None and match.route == "^api/":
        return UNMATCHED  # the catch-all 404 of unknown API paths
    route = _NAMED_GROUP_RE.sub(r"<\1>", match.route).replace("^", "").replace("$", "")
    return "/" + route.replace("/?", "")  # routers' optional trailing slash


class TrafficMiddleware:
    """Count every request except the excluded paths; never fails the request it counts."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.excluded = tuple(settings.TRAFFIC_EXCLUDED_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(self.excluded):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        try:
            record_request(
                method=request.method or "GET",
                route=route_of(request),
                status=response.status_code,
                duration_ms=elapsed_ms,
                at=datetime.now(UTC),
            )
        except Exception as exc:  # counting is best effort: a cache outage must not fail requests
            logger.warning("Traffic counter not updated: {!r}", exc)
        return response
