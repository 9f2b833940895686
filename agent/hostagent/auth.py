"""Every request except `GET /health` must be signed (see `signing.py`).

A middleware rather than a DRF authentication class: it runs before any view
(so a refused request never reaches Docker), and it hashes the body while
spooling it to a temporary file, so a multi-gigabyte image tarball is verified
without being held in memory. The spooled body then replaces the request's
input stream, and DRF's parsers read it as usual.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from typing import IO

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .errors import envelope
from .signing import ReplayCache, SignatureError, verify

log = logging.getLogger("hostagent.auth")

PUBLIC_PATHS = frozenset({"/health"})
_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


class SignatureMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.config = settings.AGENT
        self.replays = ReplayCache(self.config.signature_window)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path in PUBLIC_PATHS:
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return envelope("Invalid Content-Length header.", status=400)
        if length > self.config.max_body_bytes:
            return envelope("The request body is larger than the agent accepts.", status=413)

        body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 (closed below)
        try:
            refusal = self._verify(request, body, length)
        except BaseException:
            body.close()
            raise
        if refusal is not None:
            body.close()
            return refusal
        body.seek(0)
        request._stream = body  # DRF's parsers now read the verified bytes
        request._read_started = False
        request.agent_body = body  # the raw body, for views that stream it on (image import)
        response = self.get_response(request)
        response._resource_closers.append(body.close)
        return response

    def _verify(self, request: HttpRequest, body: IO[bytes], length: int) -> HttpResponse | None:
        """Spool and hash the body, check signature and nonce; a 4xx answer when refused."""
        digest = hashlib.sha256()
        remaining = length
        while remaining > 0:
            chunk = request._stream.read(min(_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            body.write(chunk)
            remaining -= len(chunk)
        if remaining:
            return envelope("The request body ended early.", status=400)
        try:
            nonce, _ = verify(
                self.config.secret,
                request.method or "",
                _path_as_sent(request),
                b"",
                request.headers,
                window=self.config.signature_window,
                body_sha256=digest.hexdigest(),
            )
            self.replays.check_and_remember(nonce)
        except SignatureError as exc:
            log.warning("Refused %s %s from %s: %s", request.method, request.path, _peer(request), exc)
            return envelope(f"Not authenticated: {exc}", status=401)
        return None


def _path_as_sent(request: HttpRequest) -> str:
    # gunicorn keeps the request target exactly as the client sent (and signed) it.
    raw = request.META.get("RAW_URI", "")
    return raw if raw.startswith("/") else request.get_full_path()


def _peer(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "?")
