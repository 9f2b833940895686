"""Fixtures shared by every test module: personas, API clients, service guards."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.services import session_create
from tests.factories import UserFactory

# Fixture modules shared by every directory (import nothing from them for their fixtures):
# tests/browser.py (chromium_browser, browser_context, browser_page), tests/agent_process.py
# (agent_factory), tests/registry_process.py (registry_factory), tests/containers/fixtures.py
# (workspace_dirs, edge_stack, stack), tests/netns_hosts.py (netns_hosts, netns_stack) and
# tests/ownership.py (autouse). A directory's conftest may still define its own fixture of the
# same name, which then wins there (tests/agent and tests/builds have their own `agent`).
pytest_plugins = [
    "tests.browser",
    "tests.agent_process",
    "tests.registry_process",
    "tests.containers.fixtures",
    "tests.netns_hosts",  # netns_hosts, netns_stack: Docker hosts as separate machines (network namespaces)
    "tests.ownership",  # every test fails on a cross-app write (each app writes only its own tables)
]


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_user(db):
    return UserFactory(admin=True)


@pytest.fixture
def qvp_user(db):
    return UserFactory(qvp=True)


@pytest.fixture
def alice(db):
    """A regular, approved user."""
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    """Another regular, approved user."""
    return UserFactory(username="bob")


@pytest.fixture
def api_as(db) -> Callable[..., APIClient]:
    """`api_as(user)`: an API client with a real session token of `user` (Bearer header)."""

    def make(user) -> APIClient:
        _, token = session_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.token = token  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def alice_api(api_as, alice) -> APIClient:
    return api_as(alice)


@pytest.fixture
def bob_api(api_as, bob) -> APIClient:
    return api_as(bob)


@pytest.fixture
def qvp_api(api_as, qvp_user) -> APIClient:
    return api_as(qvp_user)


@pytest.fixture
def admin_api(api_as, admin_user) -> APIClient:
    return api_as(admin_user)
