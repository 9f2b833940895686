"""/api/auth/verify behind a real nginx `auth_request`, as the workspace routes use it."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from accounts.services import session_create
from tests.factories import UserFactory
from tests.net import free_port
from tests.services import require_binary

pytestmark = pytest.mark.nginx

CONFIG = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    # Stands in for the workspace containers.
    server {{
        listen 127.0.0.1:{workspace_port};
        location / {{ return 200 "workspace $uri"; }}
    }}

    server {{
        listen 127.0.0.1:{port};
        location = /_workspace_auth {{
            internal;
            proxy_pass {backend}/api/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}
        location /alice/vscode/ {{
            auth_request /_workspace_auth;
            proxy_pass http://127.0.0.1:{workspace_port};
        }}
        location /bob/vscode/ {{
            auth_request /_workspace_auth;
            proxy_pass http://127.0.0.1:{workspace_port};
        }}
    }}
}}
"""


def wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")


@pytest.fixture
def nginx(live_server, tmp_path) -> Iterator[str]:
    binary = require_binary("nginx", "nginx")
    port, workspace_port = free_port(), free_port()
    tmp_path.chmod(0o755)  # nginx workers may run as another user
    config = tmp_path / "nginx.conf"
    config.write_text(
        CONFIG.format(tmp=tmp_path, port=port, workspace_port=workspace_port, backend=live_server.url)
    )
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for(port, process, tmp_path / "error.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text


def get(base: str, path: str, token: str | None = None) -> Answer:
    """http.client sends the path exactly as written (no client-side dot-segment removal)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME_WORKSPACE}={token}"} if token else {}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.read().decode())
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_workspace_routes_let_only_the_owner_and_admins_through(nginx):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    admin = UserFactory(username="ada", admin=True)
    alice_token = session_create(user=alice)[1]
    bob_token = session_create(user=bob)[1]
    admin_token = session_create(user=admin)[1]

    response = get(nginx, "/alice/vscode/index.html", alice_token)
    assert response.status_code == 200 and response.text == "workspace /alice/vscode/index.html"
    assert get(nginx, "/alice/vscode/", None).status_code == 401
    assert get(nginx, "/alice/vscode/", "forged-token").status_code == 401
    assert get(nginx, "/alice/vscode/", bob_token).status_code == 403
    assert get(nginx, "/bob/vscode/", bob_token).status_code == 200
    assert get(nginx, "/alice/vscode/", admin_token).status_code == 200
    # nginx routes this to bob's location while the raw X-Original-URI starts with /alice/.
    sneaky = get(nginx, "/alice/../bob/vscode/", alice_token)
    assert sneaky.status_code == 403, sneaky.text
    assert get(nginx, "/alice/%2e%2e/bob/vscode/", alice_token).status_code in (400, 403, 404)
