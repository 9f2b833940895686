"""The workspace edge on the real stack (nginx, agent, dockerd, MariaDB, Redis, live Django):
per-app origins, the ticket handshake, the cached auth subrequest, what reaches a container."""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import UserStatus
from accounts.services import session_create, session_revoke, user_password_reset
from audit.models import AuditLog
from containers.models import EdgeSession, EdgeTicket, Workspace, WorkspaceStatus
from containers.services import workspace_approve, workspace_user_delete
from tests.containers.stack import Stack, unique_username
from tests.factories import UserFactory
from tests.net import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.nginx]

RECORDER_IMAGE = "mgmt-test/recorder:latest"
# Answers 200 on both app ports and appends the head of every request it gets to
# /workspace/requests.log: the raw headers, exactly as the container received them.
RECORDER = r"""#!/bin/sh
{
  while IFS= read -r line; do
    line=$(printf '%s' "$line" | tr -d '\r')
    [ -z "$line" ] && break
    echo "$line"
  done
  echo "----"
} >> /workspace/requests.log
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nrecorded'
"""
RECORDER_START = """#!/bin/sh
nc -ll -p 8080 -e /usr/local/bin/record &
nc -ll -p 8888 -e /usr/local/bin/record &
wait
"""


@pytest.fixture(scope="session")
def recorder_image(tmp_path_factory) -> str:
    context = tmp_path_factory.mktemp("recorder")
    (context / "record").write_text(RECORDER)
    (context / "start").write_text(RECORDER_START)
    (context / "Dockerfile").write_text(
        "FROM mgmt-test/base:latest\n"
        "COPY record start /usr/local/bin/\n"
        "RUN chmod 755 /usr/local/bin/record /usr/local/bin/start\n"
        'CMD ["/usr/local/bin/start"]\n'
    )
    subprocess.run(
        ["docker", "build", "-q", "-t", RECORDER_IMAGE, str(context)],
        check=True,
        capture_output=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        timeout=300,
    )
    return RECORDER_IMAGE


@pytest.fixture
def short_ttl(settings):
    """A 2 s auth cache, rendered into nginx's configuration (ask for it before `stack`)."""
    settings.EDGE_AUTH_CACHE_SECONDS = 2
    return 2


def _active(stack: Stack, *, image: str | None = None):
    admin = UserFactory(username=unique_username("ad"), admin=True)
    owner = UserFactory(username=unique_username("ow"), pending=True)
    workspace, _ = workspace_approve(actor=admin, user=owner, image=image)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE, workspace.status_reason
    return admin, owner, workspace


def _authorize_redirect(stack: Stack, username: str, app: str = "vscode", path: str = "/"):
    first = stack.ws(username, app, path, None, Accept="text/html")
    assert first.status_code == 302
    return first, urlsplit(first.headers["Location"])


def _ticket_for(stack: Stack, token: str, username: str, app: str = "vscode") -> tuple[str, str, str]:
    """(ticket, state, callback host) from the first two steps of the handshake."""
    first, authorize = _authorize_redirect(stack, username, app)
    answer = stack.get(f"{authorize.path}?{authorize.query}", token)
    assert answer.status_code == 302, answer.text[:300]
    callback = urlsplit(answer.headers["Location"])
    return (
        parse_qs(callback.query)["ticket"][0],
        first.cookies[settings.EDGE_STATE_COOKIE_NAME],
        callback.netloc,
    )


def _redeem(stack: Stack, host: str, ticket: str, state: str | None):
    cookies = {settings.EDGE_STATE_COOKIE_NAME: state} if state else {}
    return stack.nginx.get(host, f"/_edge/callback?ticket={ticket}&next=/", cookies=cookies)


# --- the handshake ---------------------------------------------------------------------------


def test_the_handshake_sends_a_browser_to_log_in_and_back(stack):
    _, owner, _ = _active(stack)
    token = session_create(user=owner)[1]
    first, authorize = _authorize_redirect(stack, owner.username, "jupyter", "/lab/tree?a=1&b=2")
    assert authorize.netloc == f"localhost:{stack.nginx.port}"
    assert first.headers["Cache-Control"] == "no-store"
    # Not logged in on the platform: the log-in page, which comes back to the same authorize URL.
    login = stack.get(f"{authorize.path}?{authorize.query}")
    assert login.status_code == 302 and login.headers["Location"].startswith("/login?next=")
    # Logged in: a ticket for that host, and the original path with its query kept whole.
    answer = stack.get(f"{authorize.path}?{authorize.query}", token)
    callback = urlsplit(answer.headers["Location"])
    assert callback.netloc == stack.nginx.host(owner.username, "jupyter")
    assert parse_qs(callback.query)["next"] == ["/lab/tree?a=1&b=2"]
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    done = stack.nginx.get(
        callback.netloc,
        f"{callback.path}?{callback.query}",
        cookies={settings.EDGE_STATE_COOKIE_NAME: first.cookies[settings.EDGE_STATE_COOKIE_NAME]},
    )
    assert done.status_code == 302 and done.headers["Location"] == "/lab/tree?a=1&b=2"
    set_cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    assert "Domain" not in set_cookie  # host-only: no other workspace host ever gets it
    cookie = done.cookies[settings.EDGE_COOKIE_NAME]
    assert stack.ws(owner.username, "jupyter", "/", cookie).status_code == 200
    # Only hashes are stored.
    token_part = cookie.split(".")[0]
    assert not EdgeSession.objects.filter(token_hash=token_part).exists()
    assert EdgeSession.objects.filter(user=owner, host=callback.netloc.split(":")[0]).count() == 1


def test_a_ticket_is_single_use_host_bound_short_lived_and_browser_bound(stack, settings):
    _, owner, _ = _active(stack)
    token = session_create(user=owner)[1]
    vscode_host = stack.nginx.host(owner.username, "vscode")
    jupyter_host = stack.nginx.host(owner.username, "jupyter")

    ticket, state, host = _ticket_for(stack, token, owner.username)
    assert host == vscode_host
    assert _redeem(stack, host, ticket, state).status_code == 302
    replay = _redeem(stack, host, ticket, state)  # replayed
    assert replay.status_code == 403 and "invalid or used up" in replay.text

    ticket, state, _ = _ticket_for(stack, token, owner.username)
    assert _redeem(stack, jupyter_host, ticket, state).status_code == 403  # on another host
    assert _redeem(stack, vscode_host, ticket, state).status_code == 403  # and now it is spent

    ticket, state, _ = _ticket_for(stack, token, owner.username)
    assert _redeem(stack, vscode_host, ticket, "0" * 32).status_code == 403  # another browser's state
    ticket, _, _ = _ticket_for(stack, token, owner.username)
    assert _redeem(stack, vscode_host, ticket, None).status_code == 403  # no state at all

    ticket, state, _ = _ticket_for(stack, token, owner.username)
    EdgeTicket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # expired
    assert _redeem(stack, vscode_host, ticket, state).status_code == 403
    assert _redeem(stack, vscode_host, "not-a-ticket", state).status_code == 403
    assert EdgeTicket.objects.count() == 0  # every try used its ticket up


def test_a_ticket_is_never_issued_for_something_that_is_not_a_workspace_host(stack):
    _, owner, _ = _active(stack)
    token = session_create(user=owner)[1]
    for host in (
        "evil.example.com",
        f"{owner.username}--shell.localhost",
        "localhost",
        "x--vscode.localhost",
    ):
        answer = stack.get(f"/edge/authorize?host={host}&state={'a' * 32}&next=/", token)
        assert answer.status_code in (400, 404), (host, answer.status_code)
        assert "/_edge/callback" not in answer.headers.get("Location", "")
    # The callback only answers on workspace hosts.
    assert stack.get("/edge/callback?ticket=x").status_code == 400
    # nginx's own question is not reachable from outside.
    assert stack.get("/edge/verify").status_code == 404


# --- admins and strangers --------------------------------------------------------------------


def test_admins_stay_out_by_default_and_strangers_always(stack):
    admin, owner, _ = _active(stack)
    stranger = UserFactory(username=unique_username("st"))
    for person in (admin, stranger):
        _, authorize = _authorize_redirect(stack, owner.username)
        answer = stack.get(f"{authorize.path}?{authorize.query}", session_create(user=person)[1])
        assert answer.status_code == 403 and "not yours" in answer.text
    assert not AuditLog.objects.filter(action_type="workspace.admin_access").exists()


def test_with_admin_access_on_an_admin_enters_and_every_entry_is_audited(stack, settings):
    settings.WORKSPACE_ADMIN_ACCESS = True
    admin, owner, workspace = _active(stack)
    token = session_create(user=admin)[1]
    cookie = stack.edge_login(token, owner.username, "vscode")
    assert stack.ws(owner.username, "vscode", "/", cookie).status_code == 200
    stack.edge_login(token, owner.username, "jupyter")
    entries = AuditLog.objects.filter(action_type="workspace.admin_access", target_id=str(workspace.pk))
    assert entries.count() == 2
    assert {e.details["app"] for e in entries} == {"vscode", "jupyter"}
    assert all(e.actor_id == admin.pk and e.details["owner"] == owner.username for e in entries)
    # Switched off again: the admin's cookie stops working (the next uncached answer).
    settings.WORKSPACE_ADMIN_ACCESS = False
    assert stack.ws_becomes(
        owner.username, "vscode", cookie, 403, timeout=settings.EDGE_AUTH_CACHE_SECONDS + 10
    )


# --- revocation within the TTL -----------------------------------------------------------------


@pytest.mark.parametrize("how", ["logout", "disable", "password_reset", "delete_account", "delete_workspace"])
def test_revoking_takes_effect_within_the_cache_ttl(short_ttl, stack, how):
    admin, owner, workspace = _active(stack)
    session, token = session_create(user=owner)
    cookie = stack.edge_login(token, owner.username)
    assert stack.ws(owner.username, "vscode", "/", cookie).status_code == 200
    revoked_at = time.monotonic()
    if how == "logout":
        session_revoke(session=session)
    elif how == "disable":
        type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    elif how == "password_reset":
        user_password_reset(actor=admin, user=owner, password="An0ther-long-passw0rd!")
    elif how == "delete_account":
        assert workspace_user_delete(actor=admin, user=owner) is True
    else:
        Workspace.objects.filter(pk=workspace.pk).update(status=WorkspaceStatus.DELETING)
        EdgeSession.objects.filter(workspace=workspace).delete()
    assert stack.ws_becomes(owner.username, "vscode", cookie, 401, timeout=short_ttl + 5)
    assert time.monotonic() - revoked_at <= short_ttl + 2


def test_a_disabled_account_cannot_start_a_handshake(stack):
    _, owner, _ = _active(stack)
    token = session_create(user=owner)[1]
    type(owner).objects.filter(pk=owner.pk).update(status=UserStatus.DISABLED)
    _, authorize = _authorize_redirect(stack, owner.username)
    answer = stack.get(f"{authorize.path}?{authorize.query}", token)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


# --- the cache --------------------------------------------------------------------------------


def _other_char(char: str) -> str:
    """A different base64url character: a forgery must never equal the original by chance."""
    return "B" if char == "A" else "A"


def test_one_backend_call_per_cookie_per_ttl_and_none_for_forgeries(stack, verify_calls):
    _, owner, _ = _active(stack)
    cookie = stack.edge_login(session_create(user=owner)[1], owner.username)
    verify_calls.clear()
    for _ in range(50):
        assert stack.ws(owner.username, "vscode", "/", cookie).status_code == 200
    assert len(verify_calls) == 1
    # Forged, truncated, expired or other hosts' stamps: refused by nginx, never asked.
    token, expires, stamp = cookie.split(".")
    forged = [
        f"{_other_char(token[0])}{token[1:]}.{expires}.{stamp}",
        f"{token}.{int(expires) + 1}.{stamp}",
        f"{token}.{expires}.{_other_char(stamp[0])}{stamp[1:]}",
        f"{token}.{int(time.time()) - 10}.{stamp}",
        "x" * 43,
        "",
    ]
    for value in forged:
        for _ in range(20):
            assert stack.ws(owner.username, "vscode", "/", value or None).status_code == 401
    assert stack.ws(owner.username, "jupyter", "/", cookie).status_code == 401  # another host's stamp
    assert len(verify_calls) == 1


# --- what reaches a container -------------------------------------------------------------------


def test_no_platform_or_edge_credential_ever_reaches_a_container(stack, settings, recorder_image):
    settings.WORKSPACE_DEFAULT_IMAGE = recorder_image
    settings.WORKSPACE_ADMIN_ACCESS = True
    admin, owner, _ = _active(stack, image=recorder_image)
    stranger = UserFactory(username=unique_username("st"))
    secrets: list[str] = []
    for person in (owner, admin, stranger):
        _, token = session_create(user=person)
        secrets.append(token)
        for app in ("vscode", "jupyter"):
            if person is stranger:
                _, authorize = _authorize_redirect(stack, owner.username, app)
                assert stack.get(f"{authorize.path}?{authorize.query}", token).status_code == 403
                cookie = None
            else:
                cookie = stack.edge_login(token, owner.username, app)
                secrets.append(cookie)
            cookies = {
                settings.SESSION_COOKIE_NAME_WORKSPACE: token,
                "sessionid": "django-session",
                "csrftoken": "csrf",
                "__Host-mgmt_edge": "tossed",
                "_xsrf": "app-own",
            }
            if cookie:
                cookies[settings.EDGE_COOKIE_NAME] = cookie
            answer = stack.nginx.get(
                stack.nginx.host(owner.username, app),
                "/probe",
                cookies=cookies,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == (200 if cookie else 401), (person, app)
    log = Path(stack.deploy / owner.username / "requests.log")
    assert wait_until(lambda: log.exists() and log.read_text().count("GET /probe") >= 4, timeout=10)
    text = log.read_text()
    # (The readiness probe's own GET / is there too.)
    requests_seen = [block for block in text.split("----") if block.strip().startswith("GET /probe")]
    assert len(requests_seen) == 4  # owner and admin, both apps; the stranger got nowhere
    for secret in secrets:
        assert secret not in text
        assert secret.split(".")[0] not in text
    lowered = text.lower()
    assert "authorization:" not in lowered
    for name in ("mgmt_", "sessionid", "csrftoken"):
        assert name not in text
    # The app's own cookie passes; the real host (with its port) and the forwarded headers too.
    assert all("_xsrf=app-own" in block for block in requests_seen)
    assert f"Host: {stack.nginx.host(owner.username, 'vscode')}" in text
    assert f"X-Forwarded-Host: {stack.nginx.host(owner.username, 'jupyter')}" in text
    assert "X-Forwarded-Proto: http" in text


def test_too_many_platform_cookies_are_refused_rather_than_passed_on(stack):
    _, owner, _ = _active(stack)
    cookie = stack.edge_login(session_create(user=owner)[1], owner.username)
    header = "; ".join([f"{settings.EDGE_COOKIE_NAME}={cookie}", *[f"mgmt_x{i}=v" for i in range(6)]])
    answer = stack.nginx.get(stack.nginx.host(owner.username, "vscode"), "/", headers={"Cookie": header})
    assert answer.status_code == 400


# --- routes follow the container ------------------------------------------------------------------


def test_an_app_that_dies_comes_back_on_the_same_route_without_a_reconcile(stack):
    _, owner, workspace = _active(stack)
    cookie = stack.edge_login(session_create(user=owner)[1], owner.username, "jupyter")
    assert stack.ws(owner.username, "jupyter", "/", cookie).status_code == 200
    name = workspace.container_name
    pid = subprocess.run(
        ["docker", "exec", name, "sh", "-c", "ps | awk '/httpd -f -p 8888/ && !/awk/ {print $1}'"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()[0]
    subprocess.run(["docker", "exec", name, "kill", pid], check=True, timeout=30)

    def restarted() -> bool:
        count = subprocess.run(
            ["docker", "inspect", "-f", "{{.RestartCount}}", name], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        return count not in ("", "0")

    assert wait_until(restarted, timeout=30)
    assert stack.ws_becomes(owner.username, "jupyter", cookie, 200, timeout=30)
    workspace.refresh_from_db()
    assert workspace.status == WorkspaceStatus.ACTIVE


def test_approvals_need_no_nginx_reload(stack):
    pid_file = stack.nginx.prefix / "nginx.pid"
    master = pid_file.read_text().strip()
    workers = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split()
    for _ in range(3):
        _active(stack)
    assert subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split() == workers
