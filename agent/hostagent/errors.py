"""The agent's domain errors and their one mapping to the envelope.

The agent is deployed without the platform's code, so it keeps its own small
copy of the platform's envelope `{success, message, data}`: a renderer for
answers and one DRF exception handler for errors.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

log = logging.getLogger("hostagent")


class AgentError(Exception):
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class BadRequest(AgentError):
    status_code = 400
    default_message = "Invalid input."


class NotFound(AgentError):
    status_code = 404
    default_message = "Not found."


class Conflict(AgentError):
    status_code = 409
    default_message = "The operation conflicts with the current state."


class PortInUse(Conflict):
    """A host port the container is to be published on is taken (by a process or another container)."""

    def __init__(self, ports: list[int], *, what: str) -> None:
        self.ports = sorted(set(ports))
        named = ", ".join(str(port) for port in self.ports)
        if not self.ports:
            reason = "a host port is already in use on this host."
        elif len(self.ports) == 1:
            reason = f"host port {named} is already in use on this host."
        else:
            reason = f"host ports {named} are already in use on this host."
        super().__init__(f"{what}: {reason}", details={"ports_in_use": self.ports})


class DockerFailed(AgentError):
    """The Docker Engine (or a registry behind it) answered with an error of its own."""

    status_code = 502
    default_message = "The Docker Engine could not complete the operation."


class DockerUnavailable(AgentError):
    status_code = 503
    default_message = "The Docker Engine is not answering."


def envelope(message: str, data: Any = None, *, status: int) -> JsonResponse:
    """An error answer built outside DRF (the signature middleware)."""
    return JsonResponse({"success": status < 400, "message": message, "data": data}, status=status)


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, AgentError):
        body = {"success": False, "message": exc.message, "data": exc.details}
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    if not isinstance(exc, drf.APIException):
        return None  # a bug: Django answers 500 and logs the traceback
    if isinstance(exc, drf.ValidationError):
        message, data = f"Invalid input: {_first_message(exc.detail)}", exc.detail
    else:
        message, data = _first_message(exc.detail), None
    return Response({"success": False, "message": message, "data": data}, status=exc.status_code)


class EnvelopeRenderer(JSONRenderer):
    """Wrap every successful payload; error payloads arrive already wrapped."""

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code < 400:
            message = getattr(response, "message", "") or (
                "Created." if response.status_code == 201 else "OK."
            )
            data = {"success": True, "message": message, "data": data}
        return super().render(data, accepted_media_type, renderer_context)


class AgentResponse(Response):
    def __init__(self, data: Any = None, *, message: str = "", **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.message = message
