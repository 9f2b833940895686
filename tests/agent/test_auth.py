"""Every request but GET /health must be signed; refused requests never reach Docker."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from agent.hostagent.signing import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_headers
from tests.agent.docker_proxy import CountingDockerProxy

pytestmark = pytest.mark.docker


@pytest.fixture
def proxy(docker_ready):
    proxy = CountingDockerProxy()
    yield proxy
    proxy.close()


@pytest.fixture
def watched_agent(agent_factory, proxy):
    """An agent whose Docker calls all pass through the counting proxy."""
    return agent_factory(docker_host=proxy.docker_host)


def _assert_refused(response: requests.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["success"] is False
    assert reason in body["message"]


def test_health_needs_no_signature_and_says_only_up_version_docker(watched_agent, proxy):
    answer = requests.get(f"{watched_agent.url}/health", timeout=10)
    assert answer.status_code == 200
    assert answer.json()["data"] == {"status": "ok", "version": "0.1.0", "docker": True}
    assert proxy.requests[-1].endswith("/_ping")


def test_a_signed_request_reaches_docker(watched_agent, proxy):
    before, _ = proxy.snapshot()
    assert watched_agent.get("/api/containers").status_code == 200
    assert any("/containers/json" in line for line in proxy.requests[before:])


@pytest.mark.parametrize(
    "path", ["/api/containers", "/get_system_stats", "/api/images", "/api/containers/x/logs", "/nope"]
)
def test_unsigned_requests_are_refused_without_a_docker_call(watched_agent, proxy, path):
    before = proxy.snapshot()
    _assert_refused(watched_agent.get(path, sign=False), "Missing signature headers")
    assert proxy.snapshot() == before


def test_wrong_secret_tampering_staleness_and_replay_are_refused_without_a_docker_call(watched_agent, proxy):
    agent = watched_agent
    before = proxy.snapshot()
    body = {"name": "x", "image": "mgmt-test/workspace:latest"}

    _assert_refused(
        agent.post("/api/containers", json=body, secret="another-secret-0123456789"), "Bad signature"
    )

    # Signed for one body, sent with another.
    prepared = agent.prepare("POST", "/api/containers", json=body)
    prepared.headers.update(agent.signature_headers(prepared))
    prepared.body = b'{"name": "y", "image": "mgmt-test/workspace:latest"}'
    prepared.headers["Content-Length"] = str(len(prepared.body))
    _assert_refused(requests.Session().send(prepared, timeout=10), "Bad signature")

    # Signed for one path, sent to another.
    prepared = agent.prepare("GET", "/api/containers/a/logs?tail=1")
    prepared.headers.update(agent.signature_headers(prepared))
    prepared.url = agent.url + "/api/containers/a/logs?tail=100"
    _assert_refused(requests.Session().send(prepared, timeout=10), "Bad signature")

    # Signed for GET, sent as POST.
    prepared = agent.prepare("POST", "/api/containers/a/stop")
    prepared.headers.update(sign_headers(agent.secret, "GET", "/api/containers/a/stop"))
    _assert_refused(requests.Session().send(prepared, timeout=10), "Bad signature")

    for skew in (-120, +120):
        headers = sign_headers(agent.secret, "GET", "/api/images", now=time.time() + skew)
        answer = requests.get(f"{agent.url}/api/images", headers=headers, timeout=10)
        _assert_refused(answer, "outside the allowed window")

    malformed = sign_headers(agent.secret, "GET", "/api/images")
    malformed[NONCE_HEADER] = "not-hex"
    _assert_refused(requests.get(f"{agent.url}/api/images", headers=malformed, timeout=10), "Malformed")
    assert proxy.snapshot() == before

    # The same signed request twice: the first passes, the replay does not reach Docker.
    headers = sign_headers(agent.secret, "GET", "/api/containers")
    assert requests.get(f"{agent.url}/api/containers", headers=headers, timeout=10).status_code == 200
    after_first = proxy.snapshot()
    assert after_first != before
    _assert_refused(requests.get(f"{agent.url}/api/containers", headers=headers, timeout=10), "Replayed")
    assert proxy.snapshot() == after_first


def test_signature_headers_are_named_in_the_contract():
    headers = sign_headers("s" * 32, "GET", "/api/containers")
    assert set(headers) == {TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER}


def test_the_agent_can_serve_tls(agent_factory, tmp_path):
    cert, key = tmp_path / "agent.crt", tmp_path / "agent.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    agent = agent_factory(tls=(cert, key))
    assert agent.url.startswith("https://")
    assert agent.get("/api/containers").status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(agent.url.replace("https", "http") + "/health", timeout=5)
