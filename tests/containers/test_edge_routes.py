"""Routes as rows behind the real edge: real nginx with the platform's rendered configuration,
a live Django answering its auth subrequest, and small HTTP servers as the workspace apps."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.services import session_create
from containers import edge, nginx
from containers.models import Route, WorkspaceStatus
from containers.nginx import Upstream
from mgmt.exceptions import ValidationFailed
from tests.containers.stack import Stack, unique_username
from tests.factories import UserFactory, WorkspaceFactory
from tests.services import require_binary

pytestmark = [pytest.mark.nginx]


class Echo(BaseHTTPRequestHandler):
    """A workspace app stand-in: says which app answered and what it received."""

    name = "?"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        data = json.dumps(
            {
                "app": self.name,
                "path": self.path,
                "upgrade": self.headers.get("Upgrade"),
                "connection": self.headers.get("Connection"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _serve(name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type(name, (Echo,), {"name": name}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def upstreams():
    servers = [_serve("vscode"), _serve("jupyter")]
    yield tuple(Upstream("127.0.0.1", s.server_port) for s in servers)
    for server in servers:
        server.shutdown()


def _person(status: str = WorkspaceStatus.ACTIVE):
    person = UserFactory(username=unique_username("p"))
    WorkspaceFactory(owner=person, status=status)
    return person


def _login(edge_stack: Stack, person, app: str = "vscode") -> str:
    return edge_stack.edge_login(session_create(user=person)[1], person.username, app)


def test_a_route_row_is_all_nginx_needs(edge_stack, upstreams, settings):
    person = _person()
    nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    for app in ("vscode", "jupyter"):
        cookie = _login(edge_stack, person, app)
        answer = edge_stack.ws(person.username, app, "/some/path?x=1", cookie)
        assert answer.status_code == 200 and answer.json() == {
            "app": app,
            "path": "/some/path?x=1",
            "upgrade": None,
            "connection": "close",
        }


def test_a_stopped_workspace_sends_a_browser_to_its_page_instead_of_a_bare_502(edge_stack, upstreams):
    from tests.net import free_port

    person = _person(status=WorkspaceStatus.STOPPED)
    nginx.add_user_route(
        username=person.username, vscode=Upstream("127.0.0.1", free_port()), jupyter=upstreams[1]
    )
    cookie = _login(edge_stack, person)
    page = edge_stack.ws(person.username, "vscode", "/", cookie, Accept="text/html")
    host = edge_stack.nginx.host(person.username, "vscode").split(":")[0]
    assert page.status_code == 302
    assert page.headers["Location"].endswith(f"/workspace?unavailable={host}")
    assert edge_stack.ws(person.username, "vscode", "/api", cookie).status_code == 502  # not a browser

    client = Client()
    client.force_login(person)
    client.cookies[settings.SESSION_COOKIE_NAME_WORKSPACE] = session_create(user=person)[1]
    shown = client.get(f"/workspace?unavailable={host}").content.decode()
    assert "VS Code is not reachable: your workspace is stopped. Start it below." in shown
    stranger = client.get(f"/workspace?unavailable=someone--vscode.{host.split('.', 1)[1]}").content.decode()
    assert 'id="unavailable"' not in stranger  # only the person's own hosts are named
    assert "The address you opened is someone else's workspace; yours is below." in stranger


def test_websocket_upgrade_headers_reach_the_workspace(edge_stack, upstreams):
    person = _person()
    nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    cookie = _login(edge_stack, person)
    seen = edge_stack.ws(person.username, "vscode", "/ws", cookie, Upgrade="websocket", Connection="Upgrade")
    assert seen.json()["upgrade"] == "websocket"
    assert seen.json()["connection"].lower() == "upgrade"


def test_moving_and_removing_a_route_takes_effect_within_the_ttl(edge_stack, upstreams, settings):
    person = _person()
    nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    # Idempotent: the same route again changes nothing.
    nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    assert Route.objects.filter(username=person.username).count() == 1
    cookie = _login(edge_stack, person)
    assert edge_stack.ws(person.username, "vscode", "/", cookie).json()["app"] == "vscode"
    ttl = settings.EDGE_AUTH_CACHE_SECONDS + 5
    # Re-pointed (as after a move): the same URL reaches the new upstream, no reload.
    nginx.add_user_route(username=person.username, vscode=upstreams[1], jupyter=upstreams[0])
    from tests.net import wait_until

    assert wait_until(
        lambda: edge_stack.ws(person.username, "vscode", "/", cookie).json().get("app") == "jupyter",
        timeout=ttl,
    )
    assert nginx.remove_user_route(username=person.username) is True
    assert nginx.remove_user_route(username=person.username) is False
    assert not nginx.check_user_exists(username=person.username)
    assert wait_until(
        lambda: edge_stack.ws(person.username, "vscode", "/", cookie).status_code == 403, timeout=ttl
    )


def test_a_moved_route_whose_old_upstream_refuses_is_followed_at_once(edge_stack, upstreams, verify_calls):
    """After a move the old host's port refuses connections: nginx asks again past its cache and
    goes to the new upstream on that same request, instead of showing the workspace page until
    its cached answer runs out."""
    person = _person()
    old = _serve("old-host")
    nginx.add_user_route(
        username=person.username, vscode=Upstream("127.0.0.1", old.server_port), jupyter=upstreams[1]
    )
    cookie = _login(edge_stack, person)
    assert edge_stack.ws(person.username, "vscode", "/", cookie).json()["app"] == "old-host"
    old.shutdown()
    old.server_close()  # the old container is gone: its port refuses
    nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    verify_calls.clear()
    page = edge_stack.ws(person.username, "vscode", "/", cookie, Accept="text/html")
    assert page.status_code == 200 and page.json()["app"] == "vscode"
    for _ in range(3):  # the fresh answer replaced the cached one
        assert edge_stack.ws(person.username, "vscode", "/", cookie).json()["app"] == "vscode"
    assert len(verify_calls) == 1

    # Stopped (nothing answers at the routed port either): one more question, then the page.
    from tests.net import free_port

    stopped = _person(status=WorkspaceStatus.STOPPED)
    nginx.add_user_route(
        username=stopped.username, vscode=Upstream("127.0.0.1", free_port()), jupyter=upstreams[1]
    )
    cookie = _login(edge_stack, stopped)
    edge_stack.ws(stopped.username, "vscode", "/", cookie)  # its answer is cached now
    for _ in range(3):
        verify_calls.clear()
        page = edge_stack.ws(stopped.username, "vscode", "/", cookie, Accept="text/html")
        assert page.status_code == 302 and "/workspace?unavailable=" in page.headers["Location"]
        assert len(verify_calls) == 1  # a refused request costs one question, never more


def test_twenty_people_at_once_get_twenty_working_routes(edge_stack, upstreams):
    people = [_person() for _ in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(
            pool.map(
                lambda p: nginx.add_user_route(
                    username=p.username, vscode=upstreams[0], jupyter=upstreams[1]
                ),
                people,
            )
        )
    assert sorted(p.username for p in people) == [
        n for n in nginx.list_routed_usernames() if n in {p.username for p in people}
    ]
    for person in people:
        cookie = _login(edge_stack, person)
        assert edge_stack.ws(person.username, "vscode", "/", cookie).status_code == 200


def test_a_cookie_is_one_hosts_only(edge_stack, upstreams):
    alice, bob = _person(), _person()
    for person in (alice, bob):
        nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    alice_cookie = _login(edge_stack, alice)
    assert edge_stack.ws(alice.username, "vscode", "/", alice_cookie).status_code == 200
    assert edge_stack.ws(bob.username, "vscode", "/", alice_cookie).status_code == 401
    assert edge_stack.ws(alice.username, "jupyter", "/", alice_cookie).status_code == 401


@pytest.mark.parametrize(
    "name",
    ["../etc", "alice/../../x", "ALICE", "alice;", "alice}", "-alice", "alice-", "a" * 40, "", "al\nice",
     "alice\n", "ałice", "alice\x00"],
)  # fmt: skip
def test_hostile_usernames_never_become_routes(db, name):
    upstream = Upstream("127.0.0.1", 8080)
    with pytest.raises(ValidationFailed):
        nginx.add_user_route(username=name, vscode=upstream, jupyter=upstream)
    with pytest.raises(ValidationFailed):
        nginx.remove_user_route(username=name)
    assert not Route.objects.exists()


@pytest.mark.parametrize(
    ("host", "port"),
    [("127.0.0.1; return 200", 80), ("evil.com/x", 80), ("10.0.0.1", 0), ("10.0.0.1", 70000),
     ("host\n", 80), ("10.0.0.1", True), ("bad_host", 80)],
)  # fmt: skip
def test_hostile_upstreams_are_refused(host, port):
    with pytest.raises(ValidationFailed):
        Upstream(host, port)


def test_ipv6_upstreams_are_bracketed_for_nginx():
    assert edge.upstream_text("::1", 8080) == "[::1]:8080"
    assert edge.upstream_text("10.0.0.5", 8080) == "10.0.0.5:8080"


@pytest.mark.parametrize(
    ("host", "parsed"),
    [
        ("ada--vscode.localhost", ("ada", "vscode")),
        ("ADA--JUPYTER.localhost", ("ada", "jupyter")),
        ("ab--vscode--jupyter.localhost", ("ab--vscode", "jupyter")),
        ("ada--shell.localhost", None),
        ("ada--vscode.localhost.evil.com", None),
        ("ada--vscode.localhost\n", None),
        ("evil.com", None),
        ("ada--vscode.localhos", None),
        ("a--vscode.localhost", None),
    ],
)
def test_workspace_host_names(host, parsed):
    assert edge.host_parse(host) == parsed


@pytest.mark.parametrize(
    ("value", "clean"),
    [
        ("/lab?x=1&y=2", "/lab?x=1&y=2"),
        ("//evil.com/", "/"),
        ("https://evil.com/", "/"),
        ("/\\evil.com", "/"),
        ("/a\nb", "/"),
        ("", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_next_paths_stay_on_the_workspace_host(value, clean):
    assert edge.next_path_clean(value) == clean


def test_verify_is_one_query(db, django_assert_num_queries, settings):
    person = _person()
    nginx.add_user_route(
        username=person.username, vscode=Upstream("127.0.0.1", 1), jupyter=Upstream("127.0.0.1", 2)
    )
    session, _ = session_create(user=person)
    host = edge.workspace_host(person.username, "vscode")
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tokens import token_new
    from containers.models import EdgeSession

    token, digest = token_new()
    expires = timezone.now() + timedelta(hours=1)
    EdgeSession.objects.create(
        token_hash=digest, host=host, user=person, session=session, workspace=person.workspaces.get(),
        expires_at=expires,
    )  # fmt: skip
    cookie = edge.cookie_value(token, int(expires.timestamp()), host)
    with django_assert_num_queries(1):
        answer = edge.edge_verify(cookie=cookie, host=host)
    assert answer.upstream == "127.0.0.1:1"


def _rendered_and_accepted(prefix) -> str:
    """The platform block written under `prefix`, once `nginx -t` accepts the whole config."""
    conf = prefix / "nginx.conf"
    binary = require_binary("nginx", "nginx")
    result = subprocess.run(
        [binary, "-p", str(conf.parent), "-c", str(conf), "-t"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return (prefix / "platform.conf").read_text()


def test_render_command_writes_a_config_nginx_accepts(tmp_path, settings):
    settings.PLATFORM_URL = "https://mgmt.example.com"
    settings.WORKSPACE_DOMAIN = "ws.example.com"
    settings.EDGE_COOKIE_NAME = "__Host-mgmt_edge"
    call_command("render_nginx_config", "--standalone", str(tmp_path / "edge"), "--listen", "127.0.0.1:18080")
    block = _rendered_and_accepted(tmp_path / "edge")
    assert (tmp_path / "edge" / "platform.conf").stat().st_mode & 0o077 == 0  # it holds the link secret
    assert r"--(?P<ws_app>vscode|jupyter)\.ws\.example\.com$" in block
    assert "return 302 https://mgmt.example.com/edge/authorize?" in block
    assert "__Host\\-mgmt_edge=" in block and "; Secure" in block
    assert "proxy_cache_valid 200 401 403 10s;" in block
    assert 'proxy_set_header Authorization "";' in block


def test_render_command_serves_tls_with_a_redirect_and_several_web_nodes(tmp_path, settings):
    """deploy/: one certificate for the platform and the wildcard, plain HTTP sent to HTTPS."""
    settings.PLATFORM_URL = "https://mgmt.example.com"
    settings.WORKSPACE_DOMAIN = "ws.example.com"
    tls = tmp_path / "tls"
    tls.mkdir()
    key = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=mgmt.example.com", "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem"),
         "-days", "1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert key.returncode == 0, key.stderr
    call_command(
        "render_nginx_config", "--standalone", str(tmp_path / "edge"), "--listen", "127.0.0.1:18443",
        "--backend", "10.0.0.3:8000,10.0.0.4:8000", "--tls-cert", str(tls / "cert.pem"),
        "--tls-key", str(tls / "key.pem"), "--http-redirect", "127.0.0.1:18081",
    )  # fmt: skip
    block = _rendered_and_accepted(tmp_path / "edge")
    assert block.count("listen 127.0.0.1:18443") == 2 and block.count(" ssl;") == 2  # platform + workspaces
    assert block.count(f"ssl_certificate {tls / 'cert.pem'};") == 2
    assert "server 10.0.0.3:8000;\n    server 10.0.0.4:8000;" in block
    assert (
        "listen 127.0.0.1:18081 default_server;\n    server_name _;\n    return 301 https://$host$request_uri;"
        in block
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "80; evil"],
        ["--backend", "127.0.0.1:8000;"],
        ["--backend", "127.0.0.1:8000,evil host:1"],
        ["--tls-cert", "/etc/ssl/cert.pem"],  # without its key
        ["--tls-cert", "/etc/a.pem", "--tls-key", "/etc/b.pem;"],
        ["--http-redirect", "80"],  # a redirect to HTTPS needs TLS
        ["--server-name", "a{b}"],
        ["--max-body-size", "1t"],
        ["--listen", "80\n"],
    ],
)
def test_render_command_refuses_unsafe_values(args):
    with pytest.raises(CommandError, match=r"Invalid|needs"):
        call_command("render_nginx_config", *args)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKSPACE_DOMAIN", "ws.example.com; evil"),
        ("PLATFORM_URL", "http://x.com{y}"),
        ("NGINX_RESOLVER", "1.1.1.1;"),
    ],
)
def test_render_refuses_unsafe_settings(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(ValidationFailed):
        nginx.render_platform_config(listen="80", backend="127.0.0.1:8000")


def test_expired_tickets_and_edge_sessions_are_purged(db):
    from datetime import timedelta

    from django.utils import timezone

    from containers.models import EdgeSession, EdgeTicket
    from containers.tasks import edge_purge_expired_task
    from tests.edge_client import edge_cookie_made

    person = _person()
    workspace = person.workspaces.get()
    edge_cookie_made(user=person, workspace=workspace)
    edge_cookie_made(user=person, workspace=workspace, app="jupyter")
    session = EdgeSession.objects.first().session
    EdgeTicket.objects.create(
        token_hash="a" * 64, state_hash="b" * 64, host="h", session=session, workspace=workspace,
        expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    EdgeSession.objects.filter(host__contains="--jupyter.").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert edge_purge_expired_task.delay().get() == 2
    assert EdgeTicket.objects.count() == 0
    assert list(EdgeSession.objects.values_list("host", flat=True)) == [
        edge.workspace_host(person.username, "vscode")
    ]


def test_a_workspace_without_a_route_yet_is_refused_but_not_cached(edge_stack, upstreams, verify_calls):
    person = _person(WorkspaceStatus.PROVISIONING)
    cookie = _login(edge_stack, person)
    verify_calls.clear()
    for _ in range(3):
        assert edge_stack.ws(person.username, "vscode", "/", cookie).status_code == 403
    assert len(verify_calls) == 3  # each asked again: the route comes within seconds
    # A browser is sent to its workspace page (which shows the progress) instead of nginx's 403.
    page = edge_stack.ws(person.username, "vscode", "/", cookie, Accept="text/html")
    host = edge_stack.nginx.host(person.username, "vscode").split(":")[0]
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/workspace?unavailable={host}")
    verify_calls.clear()
    nginx.add_user_route(username=person.username, vscode=upstreams[0], jupyter=upstreams[1])
    assert edge_stack.ws(person.username, "vscode", "/", cookie).status_code == 200  # at once
    for _ in range(3):
        edge_stack.ws(person.username, "vscode", "/", cookie)
    assert len(verify_calls) == 1  # and from now on cached


def test_a_slow_client_is_cut_off_by_the_header_timeout(edge_stack):
    import socket

    with socket.create_connection(("127.0.0.1", edge_stack.nginx.port), timeout=20) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")  # and never the rest
        started = time.monotonic()
        answer = sock.recv(4096)
    elapsed = time.monotonic() - started
    # nginx closes the connection (or answers 408) after client_header_timeout (10 s), not never.
    assert answer in (b"",) or answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert 8 <= elapsed <= 15, elapsed


def test_log_in_and_sign_up_floods_are_cut_at_the_edge(edge_stack):
    from concurrent.futures import ThreadPoolExecutor

    host = f"localhost:{edge_stack.nginx.port}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: edge_stack.nginx.get(host, "/login").status_code, range(80)))
    limited = statuses.count(429)
    assert limited >= 40, statuses  # burst 20 at 5/s: most of 80 quick requests never reach Django
    assert set(statuses) <= {200, 429}
    # Other pages are not limited.
    assert {edge_stack.nginx.get(host, "/api/health").status_code for _ in range(30)} == {200}
