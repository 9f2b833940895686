"""403 and 404 pages in the people's pages' style, never Django's bare defaults (issue #15)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_not_found_is_the_platforms_page():
    answer = Client().get("/no/such/<page>")
    assert answer.status_code == 404
    html = answer.content.decode()
    assert "<h1>Not found</h1>" in html and 'href="/workspace"' in html
    assert "<page>" not in html  # the path is escaped, never markup


def test_forbidden_is_the_platforms_page(qvp_user):
    client = Client()
    client.force_login(qvp_user)
    answer = client.get("/admin/accounts/user/add/")  # a restricted operator may not add accounts
    assert answer.status_code == 403
    html = answer.content.decode()
    assert "<h1>Not allowed</h1>" in html and 'href="/workspace"' in html
