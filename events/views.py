"""Server-Sent Events: one job's stream, to whoever may see the job.

`GET /events/<kind>/<pk>` (an id, or an upload's UUID) answers `text/event-stream`: every event
after the `Last-Event-ID` header (a browser's EventSource sends it when it reconnects) or `?after=`,
as they come. A stream
ends with the job (`done`/`failed`) or after EVENTS_STREAM_SECONDS, so that a watcher holds a web
thread for a bounded time; EventSource then reconnects and resumes where it left off. A job the
caller may not see answers 404, the same as a job that does not exist.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from accounts.selectors import request_session_user

from . import selectors
from .models import EventKind, JobEvent

_POLL_SECONDS = 0.5
_KEEPALIVE_SECONDS = 10


def _frame(event: JobEvent) -> str:
    payload = {"kind": event.kind, "text": event.text, "at": event.at.isoformat(), **event.data}
    return f"id: {event.pk}\nevent: {event.kind}\ndata: {json.dumps(payload)}\n\n"


def _resume_point(request: HttpRequest) -> int:
    value = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else 0


def _canonical(pk: str) -> str:
    """The form job keys are written in ("12", a dashed lowercase UUID), whatever the URL said."""
    if pk.isascii() and pk.isdigit():
        return str(int(pk))
    try:
        return str(uuid.UUID(pk))
    except ValueError:
        return pk  # no model's key: its scope refuses it


@require_GET
def job_events(request: HttpRequest, kind: str, pk: str) -> StreamingHttpResponse:
    # A session token (Bearer header for scripts, the cookie for pages), else the admin's session.
    user = request_session_user(request) or (request.user if request.user.is_authenticated else None)
    pk = _canonical(pk)
    if not selectors.job_visible(user=user, kind=kind, pk=pk):
        raise Http404("No such job.")
    job, after = f"{kind}:{pk}", _resume_point(request)

    def stream() -> Iterator[str]:
        last, deadline = after, time.monotonic() + settings.EVENTS_STREAM_SECONDS
        quiet_since = time.monotonic()
        yield "retry: 1000\n\n"
        while True:
            for event in selectors.events_after(job=job, after=last):
                last = event.pk
                quiet_since = time.monotonic()
                yield _frame(event)
                if event.kind in (EventKind.DONE, EventKind.FAILED):
                    return
            now = time.monotonic()
            if now >= deadline:
                return
            if now - quiet_since >= _KEEPALIVE_SECONDS:
                quiet_since = now
                yield ": keep-alive\n\n"
            time.sleep(_POLL_SECONDS)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    return response
