from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable

import pytest
from django.core.cache import cache

from servers.models import Server
from tests.factories import ServerFactory
from traffic import counters

from .stub_agent import StubAgent


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Stats cache and traffic counters start empty (only this run's key prefix is touched)."""
    cache.delete_pattern("*") if hasattr(cache, "delete_pattern") else cache.clear()
    counters.store().clear()
    yield
    cache.delete_pattern("*") if hasattr(cache, "delete_pattern") else cache.clear()
    counters.store().clear()


@pytest.fixture
def make_server(db) -> Callable[..., Server]:
    def make(**fields) -> Server:
        fields.setdefault("name", f"host-{uuid.uuid4().hex[:8]}")
        fields.setdefault("agent_secret", secrets.token_hex(16))
        return ServerFactory(**fields)

    return make


@pytest.fixture
def stub_agent():
    with StubAgent(secrets.token_hex(16)) as stub:
        yield stub


@pytest.fixture
def stub_server(make_server, stub_agent) -> Server:
    return make_server(agent_port=stub_agent.port, agent_secret=stub_agent.secret)
