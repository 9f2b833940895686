"""The edge's endpoints (containers/edge.py): thin views around its services.

- `GET /edge/authorize` on the platform: the handshake's middle (log in, check, ticket);
- `GET /edge/callback` on a workspace host (nginx's `/_edge/callback`): ticket → cookie;
- `GET /edge/verify`, asked by nginx only, cached there: 200 + upstream, 401 or 403;
- `GET /<username>/<app>/…`: the old path routes, now a redirect to the workspace's host.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.request import split_domain_port
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts import selectors as account_selectors
from mgmt.exceptions import ApplicationError, NotAuthenticated

from . import edge
from .activity import route_activity_touch


def _host(request: HttpRequest) -> str:
    return split_domain_port(request.get_host())[0]


def _message(request: HttpRequest, title: str, text: str, status: int) -> HttpResponse:
    response = render(request, "pages/message.html", {"title": title, "text": text}, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _raw_next(request: HttpRequest) -> str:
    """`next` is nginx's raw `$request_uri`, put last and not encoded: everything after it counts."""
    query = request.META.get("QUERY_STRING", "")
    marker = query.find("&next=")
    if marker < 0:
        return "/"
    return edge.next_path_clean(query[marker + len("&next=") :])


@never_cache
@require_GET
def edge_authorize(request: HttpRequest) -> HttpResponse:
    host = (request.GET.get("host") or "").lower()
    if edge.host_parse(host) is None:
        return _message(request, "Not a workspace", "This is not a workspace address.", 400)
    session = account_selectors.cookie_session(request)
    if session is None:
        return HttpResponseRedirect("/login?" + urlencode({"next": request.get_full_path()}))
    next_path = _raw_next(request)
    try:
        ticket = edge.edge_ticket_issue(
            session=session, host=host, next_path=next_path, state=request.GET.get("state", "")
        )
    except ApplicationError as exc:
        return _message(request, "No entry", exc.message, exc.status_code)
    response = HttpResponseRedirect(edge.callback_url(host=host, ticket=ticket, next_path=next_path))
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_GET
def edge_callback(request: HttpRequest) -> HttpResponse:
    host = _host(request)
    if edge.host_parse(host) is None:
        return _message(request, "Not a workspace", "This is not a workspace address.", 400)
    try:
        cookie = edge.edge_ticket_redeem(
            ticket=request.GET.get("ticket"), host=host, state=request.META.get("HTTP_X_EDGE_STATE")
        )
    except ApplicationError as exc:
        return _message(request, "Sign-in failed", exc.message, exc.status_code)
    response = HttpResponseRedirect(cookie.next_path)
    response.set_cookie(
        settings.EDGE_COOKIE_NAME,
        cookie.value,
        max_age=cookie.max_age,
        path="/",
        secure=settings.PLATFORM_SECURE,
        httponly=True,
        samesite="Lax",
    )
    response.delete_cookie(settings.EDGE_STATE_COOKIE_NAME, path="/", samesite="Lax")
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def edge_verify(request: HttpRequest) -> HttpResponse:
    """nginx's auth subrequest. Plain Django on purpose: it is the hot path (one query)."""
    host = _host(request)
    try:
        answer = edge.edge_verify(cookie=request.META.get("HTTP_X_EDGE_TOKEN"), host=host)
    except NotAuthenticated:
        return HttpResponse(status=401)
    except ApplicationError as exc:
        response = HttpResponse(exc.message, status=403, content_type="text/plain")
        if isinstance(exc, edge.NotRoutedYet):
            response["X-Accel-Expires"] = "0"  # not kept by nginx: the route comes within seconds
        return response
    # Activity keeps the workspace from the idle stop; once per cached answer is plenty.
    route_activity_touch(username=answer.owner_username, user_id=answer.owner_id)
    response = HttpResponse(status=200)
    response["X-Workspace-Upstream"] = answer.upstream
    response["X-Auth-User"] = answer.username
    return response


@require_GET
def workspace_path_redirect(request: HttpRequest, username: str, app: str) -> HttpResponse:
    """The path routes of before (`/<user>/vscode/…`) live on as a redirect to the app's host."""
    rest = request.get_full_path()[len(f"/{username}/{app}") :]
    target = edge.next_path_clean(rest if rest.startswith("/") else "/" + rest)
    return HttpResponseRedirect(edge.workspace_url(username, app, target))
