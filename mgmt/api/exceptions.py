"""Map every error to HTTP once: domain errors, DRF errors and Django's own.

The response keeps the envelope, `success` is false and `message` says what
went wrong; field errors travel in `data`. `set_rollback()` keeps DRF's rule
that a handled error still rolls back an `ATOMIC_REQUESTS` transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from loguru import logger
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from mgmt.db import db_error_transient
from mgmt.exceptions import ApplicationError


def envelope(message: str, data: Any = None, *, status: int) -> Response:
    response = Response({"success": False, "message": message, "data": data}, status=status)
    response.enveloped = True  # the renderer leaves it as it is
    return response


def _first_message(detail: Any) -> str:
    """A readable one-line summary of DRF error details, naming the field."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _codes(codes: Any) -> set[str]:
    """Every leaf code of DRF's `get_codes()` (nested dicts and lists of codes)."""
    if isinstance(codes, dict):
        return set().union(*(_codes(value) for value in codes.values()))
    if isinstance(codes, list):
        return set().union(*(_codes(value) for value in codes))
    return {str(codes)}


def _validation_status(exc: drf.ValidationError) -> int:
    """400, unless the input is well formed and only names what clashes or is missing.

    A value that is already taken (a unique field) is a conflict, 409; an id of an
    object that does not exist (or that you may not see) is a 404, like the same id
    in a path. Well-formed input is never a 400 for something no schema can know.
    """
    codes = _codes(exc.get_codes())
    if codes and codes <= {"unique"}:
        return 409
    if codes and codes <= {"unique", "does_not_exist"}:
        return 404
    return exc.status_code


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        return envelope(exc.message, exc.details, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return envelope(f"Invalid input: {_first_message(details)}", details, status=400)
    transient = db_error_transient(exc)
    if transient:
        # Not a bug in the request: the database was busy. Nothing was changed (rolled back).
        set_rollback()
        logger.warning("Transient database error turned into 503: {!r}", exc)
        response = envelope(
            f"The database was busy ({transient}); nothing was changed. Try again.", status=503
        )
        response["Retry-After"] = "1"
        return response
    if isinstance(exc, IntegrityError):
        set_rollback()
        logger.warning("Integrity error turned into 409: {}", exc)
        return envelope("The request conflicts with existing data.", status=409)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a bug: let Django answer 500 and log the traceback

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, drf.ValidationError):
        message = f"Invalid input: {_first_message(exc.detail)}"
        data = exc.detail
    else:
        message = _first_message(exc.detail)
        data = None
    status = _validation_status(exc) if isinstance(exc, drf.ValidationError) else exc.status_code
    response = envelope(message, data, status=status)
    for key, value in headers.items():
        response[key] = value
    return response
