"""OPTIONS on every /api/ route answers each persona as the route's GET does (401/403 alike)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.matrix import PERSONAS, Ctx, Row
from tests.matrix.test_route_matrix import ROWS

# Swagger UI and its redirect are HTML pages, not API views (GET only: OPTIONS is 405, tested below).
HTML_PAGES = {"api-docs": "/api/docs/", "api-docs-redirect": "/api/docs"}
GET_ROWS = [row for row in ROWS if row.method == "GET" and row.name not in HTML_PAGES]


# A 404 row is an object-level refusal: OPTIONS describes the route, not the object.
CASES = [
    pytest.param(row, persona, id=f"OPTIONS {row.name}-{persona}")
    for row in GET_ROWS
    for persona in PERSONAS
    if row.expect[persona] != 404
]


@pytest.mark.parametrize(("row", "persona"), CASES)
def test_options_follows_get(row: Row, persona: str, ctx: Ctx, api_client):
    status = row.expect[persona]
    client = api_client if persona == "anonymous" else ctx.clients[persona]
    if row.setup:
        row.setup(ctx)
    response = client.options(reverse(row.name, kwargs=row.kwargs(ctx)))
    expected = status if status in (401, 403) else 200
    assert response.status_code == expected, f"OPTIONS {row.name} as {persona}: {response.content[:200]!r}"


@pytest.mark.parametrize("url", HTML_PAGES.values())
def test_options_on_the_swagger_page_is_not_allowed_rather_than_a_500(client, url):
    assert client.options(url).status_code == 405
