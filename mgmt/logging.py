"""Loguru as the one log sink, and a request id on every log line of a request.

Standard logging (Django, Celery, libraries) is intercepted into loguru, so one
format and one level apply everywhere. The request id comes from a valid
incoming `X-Request-ID` header or is generated, is echoed back in the response
and is bound to every log line written while the request is handled.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import re
import sys
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from loguru import logger

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{extra[request_id]} | <cyan>{name}</cyan>:<cyan>{line}</cyan> - <level>{message}</level>"
)


class InterceptHandler(logging.Handler):
    """Send standard-library log records to loguru (the recipe from loguru's docs)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Point loguru at the caller of the logging call, not at logging itself.
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def _add_request_id(record: dict) -> None:
    record["extra"].setdefault("request_id", request_id_var.get())


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    """Make loguru the only sink and route standard logging into it."""
    logger.remove()
    logger.configure(patcher=_add_request_id)
    if json:
        logger.add(sys.stderr, level=level, serialize=True, diagnose=False)
    else:
        # diagnose=False: tracebacks must not print variable values (they may hold secrets).
        logger.add(sys.stderr, level=level, format=_TEXT_FORMAT, colorize=False, diagnose=False)
    logging.basicConfig(handlers=[InterceptHandler()], level=level, force=True)
    for name in ("django", "django.request", "django.server", "celery", "gunicorn.error"):
        std = logging.getLogger(name)
        std.handlers = []
        std.propagate = True


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdMiddleware:
    """Bind a request id for the request's log lines and echo it in the response."""

    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(self.header, "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset here: Django logs a failed response after the middleware chain
        # returns; `request_finished` clears it (see `clear_request_id`).
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def clear_request_id(**_: object) -> None:
    request_id_var.set("-")
