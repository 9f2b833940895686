"""Per-user route files against a real nginx, with the platform's own server block.

The backend behind nginx is a small stand-in that answers `/api/auth/verify` the
way the accounts app does (owner 200, other user 403, nobody 401); the
end-to-end test with the real verify endpoint lives with the workspace tests.
"""

from __future__ import annotations

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from containers import nginx
from containers.nginx import NginxError, Upstream
from mgmt.exceptions import ValidationFailed
from tests.net import wait_until
from tests.nginx_process import NginxProcess
from tests.services import require_binary


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class AuthBackend(_Handler):
    """Stand-in for /api/auth/verify: the cookie names the user."""

    def do_GET(self) -> None:
        if self.path != "/api/auth/verify":
            self._send(404, {"backend": self.path})  # like Django: no such page
            return
        cookie = self.headers.get("Cookie", "")
        user = cookie.split("mgmt_token=", 1)[1].split(";")[0] if "mgmt_token=" in cookie else ""
        uri = self.headers.get("X-Original-URI", "")
        if not user:
            self._send(401, {})
        elif uri.startswith(f"/{user}/") or user == "admin":
            self._send(200, {})
        else:
            self._send(403, {})


class Echo(_Handler):
    """Stand-in workspace app: says which upstream answered, and what it received."""

    name = "?"

    def do_GET(self) -> None:
        self._send(
            200,
            {
                "app": self.name,
                "path": self.path,
                "upgrade": self.headers.get("Upgrade"),
                "connection": self.headers.get("Connection"),
            },
        )


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def upstreams():
    vscode = _serve(type("VSCode", (Echo,), {"name": "vscode"}))
    jupyter = _serve(type("Jupyter", (Echo,), {"name": "jupyter"}))
    yield Upstream("127.0.0.1", vscode.server_port), Upstream("127.0.0.1", jupyter.server_port)
    vscode.shutdown()
    jupyter.shutdown()


@pytest.fixture
def edge(tmp_path: Path, settings):
    """A running nginx whose route commands the settings point at."""
    settings.NGINX_ROUTES_DIR = str(tmp_path / "routes")
    (tmp_path / "routes").mkdir()
    backend = _serve(AuthBackend)
    proc = NginxProcess.start(tmp_path / "nginx", backend=f"127.0.0.1:{backend.server_port}")
    settings.NGINX_TEST_COMMAND = proc.test_command
    settings.NGINX_RELOAD_COMMAND = proc.reload_command
    yield proc
    proc.stop()
    backend.shutdown()


def get(edge: NginxProcess, path: str, user: str | None = None, **headers: str) -> requests.Response:
    cookies = {"mgmt_token": user} if user else {}
    return requests.get(
        edge.base_url + path, cookies=cookies, headers=headers, timeout=5, allow_redirects=False
    )


def status_becomes(edge: NginxProcess, path: str, user: str | None, expected: int) -> bool:
    """nginx reloads asynchronously: wait until several requests in a row see the new workers."""
    streak = [0]

    def settled() -> bool:
        streak[0] = streak[0] + 1 if get(edge, path, user).status_code == expected else 0
        return streak[0] >= 5

    return wait_until(settled, timeout=10)


def test_owner_gets_through_others_do_not(edge, upstreams):
    vscode, jupyter = upstreams
    nginx.add_user_route(username="alice", vscode=vscode, jupyter=jupyter)
    assert status_becomes(edge, "/alice/vscode/", "alice", 200)

    vs = get(edge, "/alice/vscode/some/file", "alice").json()
    assert vs["app"] == "vscode"
    assert vs["path"] == "/some/file"  # VS Code is served at its root: the prefix is stripped
    ju = get(edge, "/alice/jupyter/tree", "alice").json()
    assert ju["app"] == "jupyter"
    assert ju["path"] == "/alice/jupyter/tree"  # Jupyter runs under its base URL: prefix kept

    assert get(edge, "/alice/vscode/", "bob").status_code == 403
    assert get(edge, "/alice/jupyter/", "bob").status_code == 403
    assert get(edge, "/alice/vscode/").status_code == 401
    assert get(edge, "/alice/vscode/", "admin").status_code == 200


def test_browser_without_login_is_sent_to_login_and_back(edge, upstreams):
    nginx.add_user_route(username="alice", vscode=upstreams[0], jupyter=upstreams[1])
    assert status_becomes(edge, "/alice/vscode/", "alice", 200)
    response = get(edge, "/alice/vscode/?folder=/workspace", Accept="text/html,application/xhtml+xml")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/alice/vscode/?folder=/workspace")


def test_websocket_upgrade_headers_reach_the_workspace(edge, upstreams):
    nginx.add_user_route(username="alice", vscode=upstreams[0], jupyter=upstreams[1])
    assert status_becomes(edge, "/alice/vscode/", "alice", 200)
    seen = get(edge, "/alice/vscode/ws", "alice", Upgrade="websocket", Connection="Upgrade").json()
    assert seen["upgrade"] == "websocket"
    assert seen["connection"].lower() == "upgrade"


def test_add_is_idempotent_and_remove_takes_the_route_away(edge, upstreams, settings):
    path = nginx.add_user_route(username="carol", vscode=upstreams[0], jupyter=upstreams[1])
    first = path.read_text()
    assert nginx.add_user_route(username="carol", vscode=upstreams[0], jupyter=upstreams[1]) == path
    assert path.read_text() == first
    assert [p.name for p in Path(settings.NGINX_ROUTES_DIR).glob("*.conf")] == ["carol.conf"]
    assert nginx.check_user_exists(username="carol")
    assert status_becomes(edge, "/carol/vscode/", "carol", 200)

    assert nginx.remove_user_route(username="carol") is True
    assert not nginx.check_user_exists(username="carol")
    assert status_becomes(edge, "/carol/vscode/", "carol", 404)  # falls through to the backend: no route
    assert nginx.remove_user_route(username="carol") is False


def test_rewrite_points_at_new_ports(edge, upstreams):
    vscode, jupyter = upstreams
    nginx.add_user_route(username="dave", vscode=jupyter, jupyter=jupyter)
    assert status_becomes(edge, "/dave/vscode/", "dave", 200)
    nginx.add_user_route(username="dave", vscode=vscode, jupyter=jupyter)
    assert wait_until(lambda: get(edge, "/dave/vscode/", "dave").json()["app"] == "vscode")


def test_failed_config_test_restores_the_previous_file(edge, upstreams, settings):
    routes = Path(settings.NGINX_ROUTES_DIR)
    path = nginx.add_user_route(username="erin", vscode=upstreams[0], jupyter=upstreams[1])
    before = path.read_text()
    assert status_becomes(edge, "/erin/vscode/", "erin", 200)
    # Someone leaves a broken file behind: nginx -t now fails for any change.
    (routes / "zz-broken.conf").write_text("location /x { this_is_not_a_directive; }\n")

    with pytest.raises(NginxError, match="configuration test failed"):
        nginx.add_user_route(username="erin", vscode=upstreams[1], jupyter=upstreams[1])
    assert path.read_text() == before
    with pytest.raises(NginxError):
        nginx.add_user_route(username="frank", vscode=upstreams[0], jupyter=upstreams[1])
    assert not nginx.check_user_exists(username="frank")
    with pytest.raises(NginxError):
        nginx.remove_user_route(username="erin")
    assert path.read_text() == before
    # nginx kept serving the old configuration all along.
    assert get(edge, "/erin/vscode/", "erin").json()["app"] == "vscode"
    assert not list(routes.glob(".tmp-*"))


def test_failed_reload_restores_the_previous_file(edge, upstreams, settings):
    settings.NGINX_RELOAD_COMMAND = edge.reload_command.replace(
        str(edge.conf), str(edge.prefix / "missing.conf")
    )
    with pytest.raises(NginxError, match="reload failed"):
        nginx.add_user_route(username="gina", vscode=upstreams[0], jupyter=upstreams[1])
    assert not nginx.check_user_exists(username="gina")
    assert get(edge, "/gina/vscode/", "gina").status_code == 404


@pytest.mark.parametrize(
    "name",
    [
        "../etc",
        "a/b",
        "Alice",
        "al ice",
        "x",
        "alice;",
        "alice}",
        "-alice",
        "alice-",
        "a" * 40,
        "",
        "al\nice",
    ],
)
def test_hostile_usernames_never_reach_a_file(tmp_path, settings, name):
    settings.NGINX_ROUTES_DIR = str(tmp_path)
    settings.NGINX_TEST_COMMAND = settings.NGINX_RELOAD_COMMAND = "false"  # must never run
    upstream = Upstream("127.0.0.1", 8080)
    with pytest.raises(ValidationFailed):
        nginx.add_user_route(username=name, vscode=upstream, jupyter=upstream)
    with pytest.raises(ValidationFailed):
        nginx.remove_user_route(username=name)
    assert [p.name for p in Path(settings.NGINX_ROUTES_DIR).iterdir()] in ([], [".lock"])


@pytest.mark.parametrize(
    ("host", "port"),
    [("127.0.0.1; return 200", 80), ("evil.com/x", 80), ("10.0.0.1", 0), ("10.0.0.1", 70000)],
)
def test_hostile_upstreams_are_refused(host, port):
    with pytest.raises(ValidationFailed):
        Upstream(host, port)


def test_twenty_users_at_once_get_twenty_working_routes(edge, upstreams):
    names = [f"user-{i:02d}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(
            pool.map(
                lambda n: nginx.add_user_route(username=n, vscode=upstreams[0], jupyter=upstreams[1]), names
            )
        )
    assert nginx.list_routed_usernames() == names
    for name in names:
        assert status_becomes(edge, f"/{name}/vscode/", name, 200), name


def test_edge_tasks_apply_and_remove_routes(edge, upstreams):
    from containers.tasks import routes_apply, routes_remove
    from mgmt.celery import app

    for task in (routes_apply, routes_remove):
        assert app.amqp.router.route({}, task.name)["queue"].name == "edge"
    vscode, jupyter = upstreams
    routes_apply.delay("hank", vscode.host, vscode.port, jupyter.host, jupyter.port).get()
    assert status_becomes(edge, "/hank/jupyter/", "hank", 200)
    assert routes_remove.delay("hank").get() is True
    assert status_becomes(edge, "/hank/jupyter/", "hank", 404)


def test_render_command_writes_a_config_nginx_accepts(tmp_path, settings):
    from django.core.management import call_command

    settings.NGINX_ROUTES_DIR = str(tmp_path / "routes")
    (tmp_path / "routes").mkdir()
    call_command("render_nginx_config", "--standalone", str(tmp_path / "edge"), "--listen", "127.0.0.1:18080")
    conf = tmp_path / "edge" / "nginx.conf"
    binary = require_binary("nginx", "nginx")
    result = subprocess.run(
        [binary, "-p", str(conf.parent), "-c", str(conf), "-t"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    block = (tmp_path / "edge" / "platform.conf").read_text()
    assert f"include {tmp_path / 'routes'}/*.conf;" in block
    assert "location = /_workspace_auth" in block
    assert "proxy_pass http://mgmt_backend/api/auth/verify;" in block


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "80; evil"],
        ["--backend", "127.0.0.1:8000;"],
        ["--server-name", "a{b}"],
        ["--max-body-size", "1t"],
    ],
)
def test_render_command_refuses_unsafe_values(args):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Invalid"):
        call_command("render_nginx_config", *args)
