"""OPTIONS answers only to those who may GET the route: its metadata names the view and its docstring."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_options_on_an_admin_only_route_is_refused_to_a_regular_user(alice_api):
    response = alice_api.options("/api/admin/users")
    assert response.status_code == 403
    assert "User" not in response.content.decode()


def test_options_on_an_admin_only_route_answers_an_admin(admin_api):
    response = admin_api.options("/api/admin/users")
    assert response.status_code == 200
    assert "scoped by" in response.json()["data"]["description"]


def test_options_follows_the_routes_get_for_a_qvp(qvp_api):
    assert qvp_api.options("/api/servers").status_code == 200  # a qvp may list servers
    assert qvp_api.options("/api/admin/users").status_code == 403


def test_options_without_credentials_is_401(api_client):
    assert api_client.options("/api/admin/users").status_code == 401
