"""Domain errors, raised by services and clients anywhere in the platform.

One DRF exception handler (`mgmt.api.exceptions`) turns them into HTTP
responses; services never build responses themselves.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base of every domain error: a message for people and optional details."""

    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    status_code = 400
    default_message = "Invalid input."


class NotAuthenticated(ApplicationError):
    status_code = 401
    default_message = "Authentication credentials were not provided or are not valid."


class PermissionDenied(ApplicationError):
    status_code = 403
    default_message = "You do not have permission to perform this action."


class NotFound(ApplicationError):
    status_code = 404
    default_message = "Not found."


class Conflict(ApplicationError):
    """The object is in a state that does not allow the operation."""

    status_code = 409
    default_message = "The operation conflicts with the current state."


class UpstreamUnavailable(ApplicationError):
    """A network peer (agent, registry, SSH host, nginx) did not answer."""

    status_code = 503
    default_message = "An upstream service is unavailable."


class TooManyRequests(ApplicationError):
    """Rate limited or locked out for a while (e.g. too many failed logins)."""

    status_code = 429
    default_message = "Too many requests; try again later."
