"""A text filter's max_length is in the schema as maxLength (mgmt/api/filters.py StrictFilterSet): an
API client, and the contract test's generator, know the limit the 400 enforces."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_text_filters_state_their_max_length(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    audit = {p["name"]: p["schema"] for p in schema["paths"]["/api/admin/audit-logs"]["get"]["parameters"]}
    assert audit["target_id"] == {"type": "string", "maxLength": 64}
    assert audit["user"]["maxLength"] == 255 and audit["action"]["maxLength"] == 100
    assert "maxLength" not in audit["since"]  # not a text filter
