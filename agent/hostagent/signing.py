"""Request signing between the platform and a host agent (HMAC-SHA256).

Standard library only: the agent uses it to verify, the platform's agent
client (`servers/clients/agent.py`) imports the same module to sign.

Canonical string (UTF-8), one field per line:

    METHOD            upper case, e.g. POST
    PATH?QUERY        exactly as sent, e.g. /api/containers/abc/logs?tail=50
    SHA256(body)      hex digest of the raw body bytes (of b"" when there is none)
    TIMESTAMP         unix seconds, decimal
    NONCE             32 hex characters, fresh for every request

Headers: `X-Agent-Timestamp`, `X-Agent-Nonce`, `X-Agent-Signature` (hex
HMAC-SHA256 of the canonical string with the host's secret).

A large body (an image tarball) need not sit in memory: pass `body_sha256`
(the hex digest computed while streaming) instead of the bytes. The signer
also sends that digest as `X-Agent-Body-SHA256`, so that a route which reads
its body as it arrives (a folder's archive) can check the signature first and
the bytes against the digest once it has read them.
The verifier refuses a nonce it has seen inside the window (`ReplayCache`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time

TIMESTAMP_HEADER = "X-Agent-Timestamp"
NONCE_HEADER = "X-Agent-Nonce"
SIGNATURE_HEADER = "X-Agent-Signature"
BODY_SHA256_HEADER = "X-Agent-Body-SHA256"
DEFAULT_WINDOW_SECONDS = 60
_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")


class SignatureError(Exception):
    """The request is not signed, signed wrongly, stale or replayed."""


def canonical(
    method: str,
    path_with_query: str,
    body: bytes,
    timestamp: str,
    nonce: str,
    *,
    body_sha256: str | None = None,
) -> bytes:
    body_hash = body_sha256 or hashlib.sha256(body or b"").hexdigest()
    return "\n".join([method.upper(), path_with_query, body_hash, timestamp, nonce]).encode()


def signature(
    secret: str,
    method: str,
    path_with_query: str,
    body: bytes,
    timestamp: str,
    nonce: str,
    *,
    body_sha256: str | None = None,
) -> str:
    message = canonical(method, path_with_query, body, timestamp, nonce, body_sha256=body_sha256)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_headers(
    secret: str,
    method: str,
    path_with_query: str,
    body: bytes = b"",
    *,
    now: float | None = None,
    body_sha256: str | None = None,
) -> dict[str, str]:
    """The headers that authenticate one request (and, with `body_sha256`, name the body's digest)."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    headers = {
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(
            secret, method, path_with_query, body, timestamp, nonce, body_sha256=body_sha256
        ),
    }
    if body_sha256 is not None:
        headers[BODY_SHA256_HEADER] = body_sha256
    return headers


def verify(
    secret: str,
    method: str,
    path_with_query: str,
    body: bytes,
    headers: dict[str, str],
    *,
    window: int = DEFAULT_WINDOW_SECONDS,
    now: float | None = None,
    body_sha256: str | None = None,
) -> tuple[str, int]:
    """Check the signature and freshness; return (nonce, timestamp) for the replay check.

    The caller must still refuse a nonce it has seen within the window.
    """
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    nonce = headers.get(NONCE_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not (timestamp and nonce and given):
        raise SignatureError("Missing signature headers.")
    if not timestamp.isdigit() or not _NONCE_RE.match(nonce):
        raise SignatureError("Malformed signature headers.")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > window:
        raise SignatureError("Request timestamp is outside the allowed window.")
    expected = signature(secret, method, path_with_query, body, timestamp, nonce, body_sha256=body_sha256)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("Bad signature.")
    return nonce, int(timestamp)


class ReplayCache:
    """Nonces seen in the last window, in this process (thread-safe).

    One process must see every request of an agent for this to hold, which is
    why the agent runs one gunicorn worker with threads.
    """

    def __init__(self, window: int = DEFAULT_WINDOW_SECONDS) -> None:
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check_and_remember(self, nonce: str, *, now: float | None = None) -> None:
        """Raise SignatureError when the nonce was already used; remember it otherwise."""
        current = time.time() if now is None else now
        with self._lock:
            # A nonce can only be replayed while its timestamp is in the window (of either side).
            horizon = current - 2 * self.window
            if len(self._seen) > 1024:
                self._seen = {n: t for n, t in self._seen.items() if t >= horizon}
            seen_at = self._seen.get(nonce)
            if seen_at is not None and seen_at >= horizon:
                raise SignatureError("Replayed request: this nonce was already used.")
            self._seen[nonce] = current
