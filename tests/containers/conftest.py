"""Fixtures of the containers tests. The edge stack (`workspace_dirs`, `edge_stack`, `stack`)
is in tests/containers/fixtures.py, registered for every test in the root conftest."""

from __future__ import annotations

import pytest

from containers import edge


@pytest.fixture
def verify_calls(monkeypatch) -> list[str]:
    """Every call nginx makes to the backend's verify, by host (the live server is in-process)."""
    calls: list[str] = []
    real = edge.edge_verify

    def counting(*, cookie, host):
        calls.append(host)
        return real(cookie=cookie, host=host)

    monkeypatch.setattr(edge, "edge_verify", counting)
    return calls
