"""Remember the client address of the current request for audit rows.

Services call `audit_log_record` without knowing about HTTP; the address of the
request being handled (if any) is taken from here. Celery tasks and commands
have none.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from mgmt.client_ip import client_ip

request_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_ip", default=None)


def current_request_ip() -> str | None:
    return request_ip_var.get()


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_ip_var.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            request_ip_var.reset(token)
