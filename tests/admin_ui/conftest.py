"""Operator UI tests: Django test clients logged in to the admin as a persona."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User

BACKEND = "django.contrib.auth.backends.AllowAllUsersModelBackend"


@pytest.fixture
def browser_as(db) -> Callable[[User], Client]:
    """`browser_as(user)`: a client with a Django admin session of `user`, raising no exceptions
    (a 500 is an answer to assert on, as the operator would see it)."""

    def make(user: User) -> Client:
        client = Client(raise_request_exception=False)
        client.force_login(user, backend=BACKEND)
        return client

    return make


@pytest.fixture
def admin_browser(browser_as, admin_user) -> Client:
    return browser_as(admin_user)


@pytest.fixture
def qvp_browser(browser_as, qvp_user) -> Client:
    return browser_as(qvp_user)
