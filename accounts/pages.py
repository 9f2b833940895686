"""Server-rendered pages for people: sign up, log in, log out (no front-end build).

Log in sets the same HttpOnly session cookie as `POST /api/auth/login`; it is what
nginx's `auth_request` checks on every workspace URL.
"""

from __future__ import annotations

from django.contrib import auth, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.cookies import session_cookie_clear, session_cookie_set
from accounts.models import User
from mgmt.exceptions import ApplicationError


def page_user(request: HttpRequest) -> User | None:
    """The person behind the session cookie, or None."""
    session = selectors.cookie_session(request)
    return session.user if session else None


def _safe_next(request: HttpRequest, value: str | None) -> str | None:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return None


@require_http_methods(["GET", "POST"])
def register_page(request: HttpRequest) -> HttpResponse:
    values = {"email": request.POST.get("email", ""), "username": request.POST.get("username", "")}
    if request.method == "POST":
        try:
            services.user_register(password=request.POST.get("password", ""), **values)
        except ApplicationError as exc:
            return render(request, "pages/register.html", {"error": exc.message, **values}, status=400)
        # The same answer whether or not the email had an account (its owner is told by mail).
        messages.success(request, services.SIGN_UP_MESSAGE)
        return redirect("page-login")
    return render(request, "pages/register.html", values)


@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    context = {"next": next_url or "", "email": request.POST.get("email", "")}
    if request.method == "POST":
        try:
            result = services.user_login(
                request=request, email=context["email"], password=request.POST.get("password", "")
            )
        except ApplicationError as exc:
            return render(
                request, "pages/login.html", {**context, "error": exc.message}, status=exc.status_code
            )
        target = next_url or ("/admin/" if result.user.is_staff else "/workspace")
        if result.user.is_staff:
            # One sign-in for staff: the admin site runs on Django's session, so open it too.
            auth.login(request, result.user, backend="django.contrib.auth.backends.AllowAllUsersModelBackend")
        response = HttpResponseRedirect(target)
        session_cookie_set(response, result.token)
        return response
    return render(request, "pages/login.html", context)


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    session = selectors.cookie_session(request)
    if session is not None:
        services.session_revoke(session=session)
    auth.logout(request)  # the admin's Django session ends with it
    response = redirect("page-login")
    session_cookie_clear(response)
    return response
