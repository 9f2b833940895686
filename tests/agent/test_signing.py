"""The signing module on its own (the agent's HTTP tests cover it end to end)."""

from __future__ import annotations

import hashlib

import pytest

from agent.hostagent.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReplayCache,
    SignatureError,
    sign_headers,
    verify,
)

SECRET = "k" * 32


def test_a_signed_request_verifies_and_returns_its_nonce():
    headers = sign_headers(SECRET, "post", "/api/containers?x=1", b'{"a": 1}', now=1000)
    nonce, timestamp = verify(SECRET, "POST", "/api/containers?x=1", b'{"a": 1}', headers, now=1030)
    assert nonce == headers[NONCE_HEADER]
    assert timestamp == 1000


def test_a_streamed_body_hash_is_the_same_as_the_bytes():
    body = b"x" * 100_000
    digest = hashlib.sha256(body).hexdigest()
    by_hash = sign_headers(SECRET, "POST", "/api/images/import?tag=a:1", body_sha256=digest, now=5)
    verify(SECRET, "POST", "/api/images/import?tag=a:1", body, by_hash, now=5)
    by_bytes = sign_headers(SECRET, "POST", "/api/images/import?tag=a:1", body, now=5)
    verify(SECRET, "POST", "/api/images/import?tag=a:1", b"", by_bytes, now=5, body_sha256=digest)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop(SIGNATURE_HEADER), "Missing"),
        (lambda h: h.update({TIMESTAMP_HEADER: "12x"}), "Malformed"),
        (lambda h: h.update({NONCE_HEADER: "A" * 32}), "Malformed"),
        (lambda h: h.update({SIGNATURE_HEADER: "0" * 64}), "Bad signature"),
        (lambda h: h.update({SIGNATURE_HEADER: "é"}), "Bad signature"),
    ],
)
def test_tampered_headers_are_refused(change, message):
    headers = sign_headers(SECRET, "GET", "/health", now=100)
    change(headers)
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, "GET", "/health", b"", headers, now=100)


def test_the_window_is_enforced_both_ways():
    headers = sign_headers(SECRET, "GET", "/x", now=1000)
    verify(SECRET, "GET", "/x", b"", headers, now=1060)
    for now in (1061, 939):
        with pytest.raises(SignatureError, match="outside the allowed window"):
            verify(SECRET, "GET", "/x", b"", headers, now=now)


def test_replay_cache_refuses_a_nonce_inside_the_window_only():
    cache = ReplayCache(window=60)
    cache.check_and_remember("a" * 32, now=1000)
    with pytest.raises(SignatureError, match="Replayed"):
        cache.check_and_remember("a" * 32, now=1100)
    cache.check_and_remember("b" * 32, now=1000)
    # Long after, the stale entries are forgotten (the timestamp check refuses such a replay anyway).
    for i in range(1100):
        cache.check_and_remember(f"{i:032x}", now=2000)
    assert "b" * 32 not in cache._seen
