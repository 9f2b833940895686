"""OPTIONS on every /api/ route answers each persona as the route's GET does (401/403 alike)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.matrix import PERSONAS, Ctx, Row
from tests.matrix.test_route_matrix import ROWS, ctx  # noqa: F401  (fixture)

# Swagger UI is an HTML page, not an API view: its OPTIONS fails in DRF's template renderer (500),
# before and after this check alike.
GET_ROWS = [row for row in ROWS if row.method == "GET" and row.name != "api-docs"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", GET_ROWS, ids=lambda row: f"OPTIONS {row.name}")
def test_options_follows_get(row: Row, persona: str, ctx: Ctx, api_client):  # noqa: F811
    status = row.expect[persona]
    if status == 404:
        pytest.skip("object-level refusal: OPTIONS describes the route, not the object")
    client = api_client if persona == "anonymous" else ctx.clients[persona]
    if row.setup:
        row.setup(ctx)
    response = client.options(reverse(row.name, kwargs=row.kwargs(ctx)))
    expected = status if status in (401, 403) else 200
    assert response.status_code == expected, f"OPTIONS {row.name} as {persona}: {response.content[:200]!r}"
