"""The one place where JSON responses get the `{success, message, data}` envelope."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class APIResponse(Response):
    """A DRF response that carries a human message for the envelope."""

    def __init__(self, data: Any = None, *, message: str = "", **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.message = message


def _default_message(status_code: int) -> str:
    if status_code == 201:
        return "Created."
    if status_code == 202:
        return "Accepted."
    return "OK." if status_code < 400 else "The request failed."


class EnvelopeJSONRenderer(JSONRenderer):
    """Wrap every payload in the envelope; error payloads arrive already wrapped."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        response: Response | None = (renderer_context or {}).get("response")
        if response is None:
            return super().render(data, accepted_media_type, renderer_context)
        if getattr(response, "enveloped", False):
            body = data
        else:
            status_code = response.status_code
            body = {
                "success": status_code < 400,
                "message": getattr(response, "message", "") or _default_message(status_code),
                "data": data,
            }
        return super().render(body, accepted_media_type, renderer_context)
