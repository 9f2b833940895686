"""The registry client against a real `docker-registry`, with and without htpasswd auth."""

from __future__ import annotations

import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from mgmt.exceptions import Conflict, NotFound, PermissionDenied, UpstreamUnavailable, ValidationFailed
from registry.clients import RegistryClient, validate_registry_url
from tests.net import free_port
from tests.registry_process import RegistryProcess

BASE_IMAGE = "mgmt-test/base:latest"


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory):
    registry = RegistryProcess.start(tmp_path_factory.mktemp("registry-open"))
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    registry = RegistryProcess.start(tmp_path_factory.mktemp("registry-auth"), htpasswd=("ci", "s3cret-pass"))
    yield registry
    registry.stop()


@pytest.fixture
def repo() -> str:
    return f"test/base-{uuid.uuid4().hex[:8]}"


def test_ping_list_tags_manifest_and_delete(open_registry, repo):
    open_registry.push(BASE_IMAGE, repo, "v1")
    open_registry.push(BASE_IMAGE, repo, "v2")
    client = RegistryClient(url=open_registry.url, allow_local=True)

    assert client.ping()["api_version"] == "registry/2.0"
    assert repo in client.list_repositories()
    assert client.list_tags(repo) == ["v1", "v2"]

    info = client.manifest(repo, "v1")
    assert info.digest.startswith("sha256:")
    assert info.size > 500_000  # the busybox layer
    assert info.created and info.created.startswith("20")

    # v1 and v2 are the same manifest, so deleting one digest removes both tags.
    assert client.delete_tag(repo, "v1") == info.digest
    assert client.list_tags(repo) == []
    with pytest.raises(NotFound):
        client.manifest(repo, "v1")
    with pytest.raises(NotFound):
        client.delete_tag(repo, "v1")


def test_unknown_repository_is_not_found(open_registry):
    with pytest.raises(NotFound):
        RegistryClient(url=open_registry.url, allow_local=True).list_tags("no/such-repo")


def test_credentials_are_required_and_checked(auth_registry, repo):
    auth_registry.push(BASE_IMAGE, repo, "v1")
    with pytest.raises(PermissionDenied, match="refused the credentials"):
        RegistryClient(url=auth_registry.url, allow_local=True).ping()
    with pytest.raises(PermissionDenied):
        RegistryClient(
            url=auth_registry.url, username="ci", password="wrong", allow_local=True
        ).list_repositories()

    client = RegistryClient(url=auth_registry.url, username="ci", password="s3cret-pass", allow_local=True)
    client.ping()
    assert client.list_tags(repo) == ["v1"]
    assert "s3cret-pass" not in repr(client)


def test_unreachable_registry_is_503():
    client = RegistryClient(url=f"http://127.0.0.1:{free_port()}", allow_local=True)
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        client.ping()


def test_redirects_are_never_followed():
    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(UpstreamUnavailable, match="redirect"):
            RegistryClient(url=f"http://127.0.0.1:{server.server_port}", allow_local=True).ping()
    finally:
        server.shutdown()


def test_deletes_disabled_is_a_conflict(tmp_path):
    registry = RegistryProcess.start(tmp_path / "r", delete_enabled=False)
    try:
        repo = f"test/nodel-{uuid.uuid4().hex[:8]}"
        registry.push(BASE_IMAGE, repo, "v1")
        client = RegistryClient(url=registry.url, allow_local=True)
        with pytest.raises(Conflict, match="does not allow deleting"):
            client.delete_tag(repo, "v1")
        assert client.list_tags(repo) == ["v1"]
    finally:
        registry.stop()


@pytest.mark.parametrize("name", ["UPPER/case", "../etc", "a//b", "-lead", "trail-", "a/b?x=1", "a b", ""])
def test_hostile_repository_names_are_refused(open_registry, name):
    with pytest.raises(ValidationFailed):
        RegistryClient(url=open_registry.url, allow_local=True).list_tags(name)


@pytest.mark.parametrize("tag", ["../x", "a/b", ".hidden", "-x", "a" * 129, ""])
def test_hostile_tags_are_refused(open_registry, tag):
    with pytest.raises(ValidationFailed):
        RegistryClient(url=open_registry.url, allow_local=True).manifest("test/x", tag)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "http://localhost:5000",
        "http://169.254.169.254",
        "http://[::1]:5000",
        "http://0.0.0.0:5000",
        "http://[::ffff:127.0.0.1]:5000",  # IPv4-mapped IPv6
        "http://2130706433:5000",  # 127.0.0.1, decimal
        "http://0177.0.0.1:5000",  # 127.0.0.1, octal
        "http://[fd00::1]:5000",  # unique local
        "http://[fe80::1]:5000",  # link local
        "http://[2002:7f00:1::]:5000",  # 6to4 of 127.0.0.1
    ],
)
def test_local_targets_are_refused_unless_allowed(url):
    with pytest.raises(ValidationFailed, match="resolves to a local address"):
        validate_registry_url(url, allow_local=False)
    assert validate_registry_url(url, allow_local=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://registry.example",
        "http://user:pw@registry.example",
        "https://registry.example/v2/?x=1",
        "registry.example",
        "http://registry.example:99999",
    ],
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(ValidationFailed):
        validate_registry_url(url, allow_local=True)


def test_a_name_that_resolves_elsewhere_later_is_refused_at_connect_time(monkeypatch, open_registry):
    """Saved while it resolved to a public address, then DNS answers loopback (rebinding): the
    client checks every address again when it connects, and never reaches the local listener."""
    real = socket.getaddrinfo
    answer = {"address": "93.184.216.34"}

    def fake(host, port, *args, **kwargs):
        if host == "registry.example.com":
            return real(answer["address"], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    port = urlsplit(open_registry.url).port
    url = validate_registry_url(f"http://registry.example.com:{port}", allow_local=False)
    answer["address"] = "127.0.0.1"
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        RegistryClient(url=url, allow_local=False).ping()
    # The same client with local targets allowed does reach it: the refusal was the guard's.
    assert RegistryClient(url=url, allow_local=True).ping()["api_version"]
