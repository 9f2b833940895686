"""The agent client over real sockets: signing, timeouts, no redirects, retries, typed errors."""

from __future__ import annotations

import time

import pytest

from servers.clients.agent import AgentClient, AgentError, AgentTarget, AgentUnavailable
from tests.net import free_port

from .stub_agent import STATS, StubAgent


def client_for(stub: StubAgent, **kwargs) -> AgentClient:
    target = AgentTarget(name="host-a", base_url=f"http://127.0.0.1:{stub.port}", secret=stub.secret)
    return AgentClient(target, **kwargs)


def test_signed_request_is_accepted_and_unwrapped(stub_agent):
    assert client_for(stub_agent).query_agent_stats() == STATS


def test_wrong_secret_gives_the_agents_message(stub_agent):
    target = AgentTarget(name="host-a", base_url=f"http://127.0.0.1:{stub_agent.port}", secret="wrong" * 4)
    with pytest.raises(AgentError) as caught:
        AgentClient(target).query_agent_stats()
    assert caught.value.agent_status == 401
    assert caught.value.message == "Agent on host-a: Bad signature."
    assert caught.value.status_code == 503


@pytest.mark.parametrize(("status", "expected"), [(400, 400), (404, 404), (409, 409), (500, 503), (503, 503)])
def test_agent_errors_keep_their_message(stub_agent, status, expected):
    stub_agent.behaviour.status, stub_agent.behaviour.message = status, "Container name is taken."
    with pytest.raises(AgentError) as caught:
        client_for(stub_agent).create_container({"name": "x"})
    assert caught.value.message == "Agent on host-a: Container name is taken."
    assert caught.value.status_code == expected


def test_redirects_are_refused_not_followed(stub_agent):
    with StubAgent(stub_agent.secret) as elsewhere:
        stub_agent.behaviour.redirect_to = f"http://127.0.0.1:{elsewhere.port}/get_system_stats"
        with pytest.raises(AgentError, match="redirect"):
            client_for(stub_agent).query_agent_stats()
        assert elsewhere.behaviour.seen == []


def test_dead_agent_is_unavailable_naming_the_host():
    target = AgentTarget(name="host-dead", base_url=f"http://127.0.0.1:{free_port()}", secret="s" * 16)
    with pytest.raises(AgentUnavailable) as caught:
        AgentClient(target).query_agent_stats()
    assert caught.value.status_code == 503
    assert "host-dead" in caught.value.message


def test_slow_agent_costs_its_read_timeout_once(stub_agent):
    stub_agent.behaviour.delay = 3
    started = time.monotonic()
    with pytest.raises(AgentUnavailable, match="did not answer within its timeout"):
        client_for(stub_agent, read_timeout=0.5).query_agent_stats()
    assert time.monotonic() - started < 1.5
    assert len(stub_agent.behaviour.seen) == 1  # a timeout is never retried


def test_get_is_retried_with_a_fresh_signature_when_the_connection_drops(stub_agent):
    stub_agent.behaviour.drop_first_connection = 1
    assert client_for(stub_agent).query_agent_stats() == STATS
    assert len(stub_agent.behaviour.seen) == 2


def test_post_is_not_retried(stub_agent):
    stub_agent.behaviour.drop_first_connection = 1
    with pytest.raises(AgentUnavailable):
        client_for(stub_agent).create_container({"name": "x"})
    assert len(stub_agent.behaviour.seen) == 1


def test_ids_cannot_add_path_segments(stub_agent):
    client_for(stub_agent).query_agent_port_info("../../get_system_stats")
    assert stub_agent.behaviour.seen[-1] == ("GET", "/api/containers/..%2F..%2Fget_system_stats/ports")
