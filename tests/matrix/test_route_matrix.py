"""Every /api/ route x every persona answers what its row in tests/matrix/<app>.py says."""

from __future__ import annotations

import importlib
import json
import pkgutil
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

import tests.matrix as matrix_package
from mgmt.api.views import NotFoundView
from tests.matrix import PERSONAS, Ctx, Row

IGNORED_METHODS = {"options", "head", "trace"}


def _all_rows() -> list[Row]:
    rows: list[Row] = []
    for module in pkgutil.iter_modules(matrix_package.__path__):
        if not module.name.startswith("test_") and module.name != "conftest":
            rows.extend(importlib.import_module(f"tests.matrix.{module.name}").ROWS)
    return rows


ROWS = _all_rows()


def _methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset bound to {method: action}
        return {m.upper() for m in actions if m not in IGNORED_METHODS}
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return {"GET"}
    # `as_view(http_method_names=…)` narrows a view's methods per route.
    allowed = getattr(callback, "view_initkwargs", {}).get("http_method_names", view_class.http_method_names)
    return {m.upper() for m in allowed if m not in IGNORED_METHODS and hasattr(view_class, m)}


def api_routes() -> dict[tuple[str, str], str]:
    """(url name, METHOD) → route, for every route under /api/ (the catch-all 404 excepted)."""
    found: dict[tuple[str, str], str] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                if not route.lstrip("^").startswith("api/"):
                    continue
                if getattr(pattern.callback, "view_class", None) is NotFoundView:
                    continue
                name = f"{namespace}{pattern.name}" if pattern.name else f"<unnamed {route}>"
                for method in _methods(pattern.callback):
                    found[(name, method)] = route

    walk(get_resolver().url_patterns, "", "")
    return found


def test_every_api_route_has_a_row():
    routes = api_routes()
    rows = {(row.name, row.method) for row in ROWS}
    missing = sorted(f"{method} {name} ({routes[(name, method)]})" for name, method in set(routes) - rows)
    assert not missing, "Routes without a row in tests/matrix/<app>.py:\n" + "\n".join(missing)
    stale = sorted(f"{method} {name}" for name, method in rows - set(routes))
    assert not stale, "Rows for routes that do not exist:\n" + "\n".join(stale)


def test_rows_name_every_persona():
    for row in ROWS:
        assert set(row.expect) == set(PERSONAS), row.id


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_route_matrix(row: Row, persona: str, ctx: Ctx, api_client):
    client = api_client if persona == "anonymous" else ctx.clients[persona]
    if row.setup:
        row.setup(ctx)
    url = reverse(row.name, kwargs=row.kwargs(ctx))
    if row.query:
        url += "?" + urlencode(row.query(ctx))
    extra = row.headers(ctx) if row.headers else {}
    data = row.data(ctx) if row.data else None
    response = client.generic(row.method, url, **_body(data), **extra)
    assert response.status_code == row.expect[persona], (
        f"{row.id} as {persona}: expected {row.expect[persona]}, got {response.status_code}: "
        f"{response.content[:300]!r}"
    )


def _body(data) -> dict:
    if data is None:
        return {}
    if isinstance(data, bytes):
        return {"data": data, "content_type": "application/octet-stream"}
    return {"data": json.dumps(data), "content_type": "application/json"}
