"""The browser's side of the edge handshake, for Python clients (tests, bench/).

Python's resolver knows no `*.localhost`, so every request goes to nginx's loopback
address with the host name in the `Host` header.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings

from containers import edge


def via(base_url: str, host: str, path: str = "/", **kwargs) -> requests.Response:
    """GET `path` on `host` through the nginx at `base_url` (http://127.0.0.1:PORT)."""
    headers = {"Host": host, **kwargs.pop("headers", {})}
    kwargs.setdefault("timeout", 10)
    kwargs.setdefault("allow_redirects", False)
    return requests.get(f"{base_url}{path}", headers=headers, **kwargs)


def edge_handshake(base_url: str, host: str, platform_token: str, path: str = "/") -> str:
    """workspace host → platform authorize → callback: the workspace host's cookie."""
    first = via(base_url, host, path, headers={"Accept": "text/html"})
    assert first.status_code == 302, first.status_code
    state = first.cookies[settings.EDGE_STATE_COOKIE_NAME]
    authorize = urlsplit(first.headers["Location"])
    second = via(
        base_url,
        authorize.netloc,
        f"{authorize.path}?{authorize.query}",
        cookies={settings.SESSION_COOKIE_NAME_WORKSPACE: platform_token},
    )
    assert second.status_code == 302, (second.status_code, second.text[:300])
    callback = urlsplit(second.headers["Location"])
    third = via(
        base_url,
        callback.netloc,
        f"{callback.path}?{callback.query}",
        cookies={settings.EDGE_STATE_COOKIE_NAME: state},
    )
    assert third.status_code == 302, (third.status_code, third.text[:300])
    assert third.headers["Location"] == path
    return third.cookies[settings.EDGE_COOKIE_NAME]


def edge_cookie_made(*, user, workspace, app: str = "vscode") -> tuple[str, str]:
    """(host, cookie value) of an edge session made directly, as a finished handshake would."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import session_create
    from accounts.tokens import token_new
    from containers.models import EdgeSession

    session, _ = session_create(user=user)
    host = edge.workspace_host(workspace.owner.username, app)
    token, digest = token_new()
    expires = timezone.now() + timedelta(hours=1)
    EdgeSession.objects.create(
        token_hash=digest, host=host, user=user, session=session, workspace=workspace, expires_at=expires
    )
    return host, edge.cookie_value(token, int(expires.timestamp()), host)
