"""Fixtures shared by every test module: personas, API clients, service guards."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory


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
