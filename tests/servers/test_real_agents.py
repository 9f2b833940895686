"""Servers against real agent processes (gunicorn serving agent/) on loopback ports."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import requests

from servers.clients.agent import AgentClient, AgentError, AgentUnavailable
from servers.models import Server, ServerStats, ServerStatus
from servers.services import stats
from tests.services import require_docker

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

WORKSPACE_IMAGE = "mgmt-test/workspace:latest"


@pytest.fixture(autouse=True)
def _timeouts(settings):
    settings.AGENT_CONNECT_TIMEOUT = 1.0
    settings.AGENT_READ_TIMEOUT = 2.0
    settings.SERVER_STATS_TTL = 30


@pytest.fixture
def two_agents(agent_factory):
    require_docker()
    return agent_factory(), agent_factory()


def register(api_client, name: str, agent) -> int:
    response = api_client.post(
        "/api/servers",
        {"name": name, "address": "127.0.0.1", "agent_port": agent.port, "agent_secret": agent.secret},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["data"]["id"]


def test_register_stats_history_then_one_agent_stops(api_client, admin_user, two_agents):
    first, second = two_agents
    api_client.force_authenticate(admin_user)
    suffix = uuid.uuid4().hex[:6]
    id_a, id_b = register(api_client, f"a-{suffix}", first), register(api_client, f"b-{suffix}", second)

    listed = api_client.get("/api/servers").json()["data"]["results"]
    live = {row["id"]: row["live"] for row in listed}
    assert live[id_a]["ok"] and live[id_b]["ok"]
    assert live[id_a]["stats"]["cpu_count"] == os.cpu_count()
    assert live[id_a]["stats"]["memory_total"] > 0

    assert stats.servers_poll() == {f"a-{suffix}": "online", f"b-{suffix}": "online"}
    history = api_client.get(f"/api/servers/{id_a}/stats").json()["data"]
    assert len(history) == 1 and history[0]["memory_total"] > 0 and history[0]["containers_total"] == 0

    second.stop()
    stats.servers_poll()
    assert Server.objects.get(pk=id_b).status == ServerStatus.OFFLINE
    assert Server.objects.get(pk=id_a).status == ServerStatus.ONLINE
    assert ServerStats.objects.filter(server_id=id_a).count() == 2
    assert ServerStats.objects.filter(server_id=id_b).count() == 1

    started = time.monotonic()
    listed = api_client.get("/api/servers").json()["data"]["results"]
    elapsed = time.monotonic() - started
    live = {row["id"]: row["live"] for row in listed}
    assert live[id_a]["ok"] and not live[id_b]["ok"]
    assert f"b-{suffix}" in live[id_b]["error"]
    assert elapsed < 1.0, elapsed  # the poll cached both answers: the list does not ask again


def test_a_stopped_agent_does_not_delay_the_others(api_client, admin_user, two_agents):
    healthy, frozen = two_agents
    api_client.force_authenticate(admin_user)
    suffix = uuid.uuid4().hex[:6]
    id_ok, id_frozen = (
        register(api_client, f"ok-{suffix}", healthy),
        register(api_client, f"fz-{suffix}", frozen),
    )
    # SIGSTOP: the kernel still accepts the connection, nothing ever answers (a hung host).
    os.killpg(frozen.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = api_client.get("/api/servers")
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        live = {row["id"]: row["live"] for row in response.json()["data"]["results"]}
        assert live[id_ok]["ok"]
        assert not live[id_frozen]["ok"] and "timeout" in live[id_frozen]["error"]
        # One agent timeout (2 s read), not more; never a 500.
        assert elapsed < 3.0, elapsed

        started = time.monotonic()
        assert api_client.get("/api/servers").status_code == 200
        assert time.monotonic() - started < 0.5  # the frozen agent's failure is cached for the TTL

        stats.servers_poll()
        assert Server.objects.get(pk=id_frozen).status == ServerStatus.OFFLINE
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)


def test_client_endpoints_against_a_real_agent(agent_factory, make_server, tmp_path):
    require_docker()
    agent = agent_factory(workspace_root=tmp_path)
    client = AgentClient.for_server(make_server(agent_port=agent.port, agent_secret=agent.secret))
    assert client.health()["status"] == "ok"
    assert client.list_containers() == []
    assert any(WORKSPACE_IMAGE in image["tags"] for image in client.list_images())

    folder = tmp_path / "ws"
    folder.mkdir()
    name = f"{agent.label_prefix}-ws-{uuid.uuid4().hex[:6]}"
    created = client.create_container(
        {"name": name, "image": WORKSPACE_IMAGE, "ports": [8080], "workspace_folder": str(folder)}
    )
    assert created["name"] == name
    assert client.get_container(name)["id"] == created["id"]
    ports = client.query_agent_port_info(name)
    host_port = int(ports["8080/tcp"]["host_port"])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{host_port}/", timeout=1).status_code < 500:
                break
        except requests.RequestException:
            time.sleep(0.2)
    assert client.stop_container(name, timeout=1)["status"] == "exited"
    logs = client.container_logs(name, tail=5)
    assert isinstance(logs["lines"], list)
    assert client.container_logs(name, after=logs["cursor"]) == {"lines": [], "cursor": logs["cursor"]}
    client.delete_container(name)
    with pytest.raises(AgentError) as caught:
        client.query_agent_port_info(name)
    assert caught.value.status_code == 404


def test_wrong_secret_makes_the_server_degraded(agent_factory, make_server):
    require_docker()
    agent = agent_factory()
    server = make_server(agent_port=agent.port, agent_secret="not-the-agents-secret-at-all")
    stats.servers_poll()
    server.refresh_from_db()
    assert server.status == ServerStatus.DEGRADED
    assert "signature" in server.status_detail.lower()


def test_streamed_build_against_a_real_agent(agent_factory, make_server):
    import subprocess

    require_docker()
    agent = agent_factory()
    client = AgentClient.for_server(make_server(agent_port=agent.port, agent_secret=agent.secret))
    built = f"mgmt-test/servers-build-{uuid.uuid4().hex[:8]}:t"
    try:
        events = list(
            client.build_image(dockerfile=f"FROM mgmt-test/base:latest\nLABEL run={built}\n", tag=built)
        )
        assert len(events) >= 2 and events[-1].get("done") is True, events
        assert any("line" in event for event in events[:-1])
        assert any(built in image["tags"] for image in client.list_images())
        assert client.delete_image(built)["deleted"]
    finally:
        subprocess.run(["docker", "rmi", "-f", built], capture_output=True, timeout=60)


def test_import_against_a_real_agent(agent_factory, make_server):
    import io
    import subprocess
    import tarfile

    require_docker()
    agent = agent_factory()
    client = AgentClient.for_server(make_server(agent_port=agent.port, agent_secret=agent.secret))
    imported = f"mgmt-test/servers-import-{uuid.uuid4().hex[:8]}:t"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"hello from a guest OS\n"
        info = tarfile.TarInfo("etc/motd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    try:
        image = client.import_image(rootfs_tar=buffer.getvalue(), tag=imported, changes=['CMD ["/bin/sh"]'])
        assert imported in image["tags"]
        assert client.get_image(imported)["id"] == image["id"]
        assert client.delete_image(imported)["deleted"] == image["id"]
    finally:
        subprocess.run(["docker", "rmi", "-f", imported], capture_output=True, timeout=60)


def test_agent_over_tls_verified_against_the_ca_bundle(agent_factory, make_server, tmp_path, settings):
    import subprocess

    require_docker()
    cert, key = tmp_path / "agent.crt", tmp_path / "agent.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    agent = agent_factory(tls=(cert, key))
    server = make_server(agent_port=agent.port, agent_secret=agent.secret, agent_tls=True)
    settings.AGENT_CA_BUNDLE = ""  # the system CAs do not know this certificate: refused
    with pytest.raises(AgentUnavailable, match="TLS with the agent"):
        AgentClient.for_server(server).query_agent_stats()
    settings.AGENT_CA_BUNDLE = str(cert)
    assert AgentClient.for_server(server).query_agent_stats()["cpu"]["count"] == os.cpu_count()
