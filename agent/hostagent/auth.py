"""Every request except `GET /health` must be signed (see `signing.py`).

A middleware rather than a DRF authentication class: it runs before any view
(so a refused request never reaches Docker), and it hashes the body while
spooling it to a temporary file, so a multi-gigabyte image tarball is verified
without being held in memory. The spooled body then replaces the request's
input stream, and DRF's parsers read it as usual.

One route reads its body as it arrives instead: a folder's archive (a move),
which would otherwise be written to disk once more only to be read back. Its
signature is checked before any byte is read, against the digest the signer
names (`X-Agent-Body-SHA256`); the view unpacks into a staging folder and
renames it into place only after `CheckedBody.check()` found every byte, and no
other, under that digest.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import tempfile
from collections.abc import Callable
from typing import IO

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .errors import BadRequest, envelope
from .signing import BODY_SHA256_HEADER, ReplayCache, SignatureError, verify

log = logging.getLogger("hostagent.auth")

PUBLIC_PATHS = frozenset({"/health"})
_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
# Routes whose view reads the body as it arrives and calls `check()` before it keeps anything.
_STREAMED = (("PUT", re.compile(r"/api/folders/[^/]+/archive", re.ASCII)),)
_DIGEST_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)


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
        claimed = request.headers.get(BODY_SHA256_HEADER, "")
        if length and _DIGEST_RE.fullmatch(claimed) and self._streamed(request):
            refusal = self._check(request, claimed)
            if refusal is not None:
                return refusal
            request.agent_body = CheckedBody(request._stream, length, claimed)
            return self.get_response(request)

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
        return self._check(request, digest.hexdigest())

    def _check(self, request: HttpRequest, body_sha256: str) -> HttpResponse | None:
        """Signature, freshness and nonce of a request whose body has this digest; 401 when refused."""
        try:
            nonce, _ = verify(
                self.config.secret,
                request.method or "",
                _path_as_sent(request),
                b"",
                request.headers,
                window=self.config.signature_window,
                body_sha256=body_sha256,
            )
            self.replays.check_and_remember(nonce)
        except SignatureError as exc:
            log.warning("Refused %s %s from %s: %s", request.method, request.path, _peer(request), exc)
            return envelope(f"Not authenticated: {exc}", status=401)
        return None

    @staticmethod
    def _streamed(request: HttpRequest) -> bool:
        return any(request.method == method and path.fullmatch(request.path) for method, path in _STREAMED)


class CheckedBody:
    """A signed body read as it arrives, hashed as it is read. `check()` reads what is left and
    refuses (400) unless the body was exactly its declared length and hashes to the signed digest:
    the reader keeps nothing it read before that."""

    def __init__(self, stream: IO[bytes], length: int, sha256: str) -> None:
        self._stream, self._remaining, self._expected = stream, length, sha256
        self._digest = hashlib.sha256()

    def read(self, size: int | None = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        want = self._remaining if size is None or size < 0 else min(size, self._remaining)
        chunk = self._stream.read(want)
        self._remaining -= len(chunk)
        self._digest.update(chunk)
        if not chunk:
            self._remaining = -1  # ended early: check() refuses
        return chunk

    def check(self) -> None:
        while self._remaining > 0:
            self.read(_CHUNK)
        if self._remaining < 0:
            raise BadRequest("The request body ended early.")
        if not hmac.compare_digest(self._digest.hexdigest(), self._expected):
            raise BadRequest("The body does not match the digest it was signed with; nothing was kept.")


def _path_as_sent(request: HttpRequest) -> str:
    # gunicorn keeps the request target exactly as the client sent (and signed) it.
    raw = request.META.get("RAW_URI", "")
    return raw if raw.startswith("/") else request.get_full_path()


def _peer(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "?")
