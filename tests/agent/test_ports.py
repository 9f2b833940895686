"""Published ports: the host ports the platform reserved, kept across Docker's restarts."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
from collections.abc import Iterator

import pytest
from docker import errors as docker_errors

from agent.hostagent.config import AgentConfig
from agent.hostagent.docker_client import translate_errors
from agent.hostagent.errors import BadRequest, PortInUse
from agent.hostagent.policy import build_create_kwargs, validate_spec
from tests.agent.conftest import WORKSPACE_IMAGE
from tests.net import free_port, get_when_up, wait_until

WAIT = 30  # seconds any wait on Docker or on an app may take


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _bindings(docker_client, ident: str) -> tuple[dict, dict]:
    attrs = docker_client.api.inspect_container(ident)
    return attrs["HostConfig"]["PortBindings"], attrs["NetworkSettings"]["Ports"]


def _names(docker_client, agent, name: str) -> list[str]:
    return [
        c.name
        for c in docker_client.containers.list(all=True, filters={"name": f"{agent.label_prefix}-{name}"})
    ]


# --- the mapping form against Docker --------------------------------------------------------------


@pytest.mark.docker
def test_mapping_publishes_exactly_the_reserved_host_ports(agent, workspace, unique, docker_client):
    vscode, jupyter = _free_ports(2)
    body = {
        "name": f"map-{unique}",
        "image": WORKSPACE_IMAGE,
        "ports": {"8080": vscode, "8888": jupyter},
        "workspace_folder": str(workspace),
    }
    created = agent.post("/api/containers", json=body)
    assert created.status_code == 201, created.text
    ident = created.json()["data"]["id"]

    wanted, bound = _bindings(docker_client, ident)
    assert wanted == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(vscode)}],
        "8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(jupyter)}],
    }
    assert bound == wanted
    assert created.json()["data"]["ports"] == {
        "8080/tcp": {"host_ip": "127.0.0.1", "host_port": vscode},
        "8888/tcp": {"host_ip": "127.0.0.1", "host_port": jupyter},
    }
    assert "vscode stand-in" in get_when_up(f"http://127.0.0.1:{vscode}/", timeout=WAIT).text
    assert "jupyter stand-in" in get_when_up(f"http://127.0.0.1:{jupyter}/", timeout=WAIT).text

    # Idempotent with the same mapping; another mapping under the name is another request.
    again = agent.post("/api/containers", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == ident
    moved = agent.post("/api/containers", json={**body, "ports": {"8080": jupyter, "8888": vscode}})
    assert moved.status_code == 409
    assert "different container" in moved.json()["message"]
    ephemeral = agent.post("/api/containers", json={**body, "ports": [8080, 8888]})
    assert ephemeral.status_code == 409


@pytest.mark.docker
@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"8080": 80}, "host port 80 for container port 8080 is not a port number (1024-65535)"),
        ({"8080": 70000}, "host port 70000 for container port 8080 is not a port number"),
        ({"0": 21000}, "'0' is not a container port number (1-65535)"),
        ({"70000": 21000}, "'70000' is not a container port number"),
        ({"http": 21000}, "'http' is not a container port number"),
        ({"8080/tcp": 21000}, "'8080/tcp' is not a container port number"),
        ({"8080": 21000, "8888": 21000}, "host port 21000 is given for more than one container port"),
        ({"8080": 21000, "08080": 21001}, "'08080' is not a container port number"),
        ({"8080": "21000"}, "host port '21000' for container port 8080 is not a port number"),
        ({"8080": True}, "host port True for container port 8080 is not a port number"),
        ({"8080": 21000.0}, "host port 21000.0 for container port 8080 is not a port number"),
        ({"8080": None}, "host port None for container port 8080 is not a port number"),
        ({str(p): 20000 + p for p in range(1, 34)}, "at most 32 ports"),
        ([8080] * 33, "at most 32 ports"),
        ([True], "True is not a port number"),
        ("8080", "must be a list of container ports or an object"),
        (8080, "must be a list of container ports or an object"),
    ],
)
def test_bad_port_mappings_are_400_and_create_nothing(agent, unique, docker_client, ports, message):
    answer = agent.post(
        "/api/containers", json={"name": f"badp-{unique}", "image": WORKSPACE_IMAGE, "ports": ports}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False
    assert answer.json()["message"].startswith("ports: ")
    assert message in answer.json()["message"]
    assert not _names(docker_client, agent, f"badp-{unique}")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port a process (not Docker) listens on, on the publish address."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.docker
def test_a_host_port_taken_by_a_process_is_409_naming_it_and_leaves_nothing(
    agent, unique, docker_client, taken_port
):
    (free,) = _free_ports(1)
    body = {"name": f"busy-{unique}", "image": WORKSPACE_IMAGE, "ports": {"8080": free, 8888: taken_port}}
    answer = agent.post("/api/containers", json=body)
    assert answer.status_code == 409, answer.text
    assert answer.json()["message"] == (
        f"Starting container {agent.label_prefix}-busy-{unique}: "
        f"host port {taken_port} is already in use on this host."
    )
    assert answer.json()["data"] == {"ports_in_use": [taken_port]}
    assert not _names(docker_client, agent, f"busy-{unique}")

    # Nothing left behind: the same name with free ports is created at once.
    retried = agent.post("/api/containers", json={**body, "ports": {"8080": free}})
    assert retried.status_code == 201, retried.text


@pytest.mark.docker
def test_starting_a_stopped_container_whose_port_was_taken_is_409_and_keeps_it(agent, unique, docker_client):
    (port,) = _free_ports(1)
    created = agent.post(
        "/api/containers", json={"name": f"later-{unique}", "image": WORKSPACE_IMAGE, "ports": {"8080": port}}
    )
    assert created.status_code == 201, created.text
    ident = created.json()["data"]["id"]
    assert agent.post(f"/api/containers/{ident}/stop?timeout=5").status_code == 200
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        answer = agent.post(f"/api/containers/{ident}/start")
        assert answer.status_code == 409, answer.text
        assert f"host port {port} is already in use on this host." in answer.json()["message"]
    assert docker_client.containers.get(ident).status in ("created", "exited")
    assert agent.post(f"/api/containers/{ident}/start").json()["data"]["status"] == "running"


@pytest.mark.docker
def test_host_ports_held_by_another_container_are_409_naming_each(agent, unique, docker_client):
    first, second = _free_ports(2)
    holder = agent.post(
        "/api/containers",
        json={"name": f"hold-{unique}", "image": WORKSPACE_IMAGE, "ports": {"8080": first, "8888": second}},
    )
    assert holder.status_code == 201, holder.text

    clash = agent.post(
        "/api/containers",
        json={"name": f"clash-{unique}", "image": WORKSPACE_IMAGE, "ports": {"8080": first, "8888": second}},
    )
    assert clash.status_code == 409, clash.text
    assert f"host ports {first}, {second} are already in use on this host." in clash.json()["message"]
    assert clash.json()["data"] == {"ports_in_use": [first, second]}
    assert not _names(docker_client, agent, f"clash-{unique}")
    assert docker_client.containers.get(holder.json()["data"]["id"]).status == "running"


@pytest.mark.docker
def test_a_crashed_app_restarts_the_container_on_the_same_host_ports(agent, unique, docker_client):
    vscode, jupyter = _free_ports(2)
    prefix = f"/u{unique}/jupyter/"
    created = agent.post(
        "/api/containers",
        json={
            "name": f"crash-{unique}",
            "image": WORKSPACE_IMAGE,
            "ports": {"8080": vscode, "8888": jupyter},
            # "/" is a valid base URL: the app at the root only.
            "env": {"VSCODE_BASE_URL": "/", "JUPYTER_BASE_URL": prefix, "WORKSPACE_USER": "dora"},
        },
    )
    assert created.status_code == 201, created.text
    ident = created.json()["data"]["id"]
    assert "vscode stand-in" in get_when_up(f"http://127.0.0.1:{vscode}/", timeout=WAIT).text
    assert "workspace of dora" in get_when_up(f"http://127.0.0.1:{jupyter}{prefix}", timeout=WAIT).text
    started_at = docker_client.api.inspect_container(ident)["State"]["StartedAt"]

    # Kill only the Jupyter stand-in: the container must exit and Docker restart it.
    subprocess.run(
        ["docker", "exec", ident, "sh", "-c", "kill $(ps | awk '/httpd -f -p 8888/ && !/awk/ {print $1}')"],
        check=True,
        capture_output=True,
        timeout=WAIT,
    )

    def restarted() -> bool:
        state = docker_client.api.inspect_container(ident)
        return (
            state["RestartCount"] >= 1
            and state["State"]["Running"]
            and state["State"]["StartedAt"] != started_at
        )

    assert wait_until(restarted, timeout=WAIT, interval=0.2), docker_client.api.inspect_container(ident)[
        "State"
    ]
    wanted, bound = _bindings(docker_client, ident)
    assert (
        bound
        == wanted
        == {
            "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(vscode)}],
            "8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(jupyter)}],
        }
    )
    assert agent.get(f"/api/containers/{ident}/ports").json()["data"]["8888/tcp"]["host_port"] == jupyter
    assert "jupyter stand-in" in get_when_up(f"http://127.0.0.1:{jupyter}{prefix}", timeout=WAIT).text
    assert "vscode stand-in" in get_when_up(f"http://127.0.0.1:{vscode}/", timeout=WAIT).text

    # A stop (SIGTERM) is a clean exit, and Docker does not count it as a crash.
    stopped = agent.post(f"/api/containers/{ident}/stop?timeout=5")
    assert stopped.json()["data"]["status"] == "exited"
    assert docker_client.api.inspect_container(ident)["State"]["ExitCode"] == 0


# --- validation, fingerprint and error translation without Docker -------------------------------------


def _config(tmp_path) -> AgentConfig:
    return AgentConfig(secret="s" * 32, workspace_root=str(tmp_path), label_prefix="pt")


def _spec(config: AgentConfig, ports):
    return validate_spec(
        config,
        {"name": "w", "image": "ide:1", "ports": ports},
        host_cpus=4,
        host_memory=8 * 1024**3,
        host_gpus=0,
    )


def test_mapping_keys_may_be_ints_and_become_fixed_host_bindings(tmp_path):
    config = _config(tmp_path)
    spec = _spec(config, {8888: 21001, "8080": 21000})
    assert build_create_kwargs(config, spec)["ports"] == {
        "8888/tcp": ("127.0.0.1", 21001),
        "8080/tcp": ("127.0.0.1", 21000),
    }
    assert build_create_kwargs(config, _spec(config, [8080]))["ports"] == {"8080/tcp": ("127.0.0.1", None)}
    assert build_create_kwargs(config, _spec(config, None))["ports"] == {}
    with pytest.raises(BadRequest, match="container port 8080 is given twice"):
        _spec(config, {8080: 21000, "8080": 21001})


def test_the_fingerprint_covers_the_mapping_and_keeps_the_list_forms(tmp_path):
    config = _config(tmp_path)
    mapped = _spec(config, {"8080": 21000, "8888": 21001})
    assert mapped.fingerprint() == _spec(config, {8888: 21001, 8080: 21000}).fingerprint()
    assert mapped.fingerprint() != _spec(config, {"8080": 21001, "8888": 21000}).fingerprint()
    assert mapped.fingerprint() != _spec(config, {"8080": 21000}).fingerprint()
    assert mapped.fingerprint() != _spec(config, [8080, 8888]).fingerprint()

    # Containers created before the mapping existed keep their fingerprint (idempotent create still 200).
    listed = _spec(config, [8888, 8080])
    before = {
        "image": "ide:1",
        "env": {},
        "nano_cpus": listed.nano_cpus,
        "memory": listed.memory,
        "gpus": 0,
        "ports": [8080, 8888],
        "workspace_folder": None,
        "labels": {},
    }
    assert listed.fingerprint() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize(
    ("explanation", "port"),
    [
        (
            "driver failed programming external connectivity on endpoint mgmt-a (e886db93a529): "
            "Bind for 127.0.0.1:21000 failed: port is already allocated",
            21000,
        ),
        (
            "driver failed programming external connectivity on endpoint mgmt-a (e886db93a529): "
            "Error starting userland proxy: listen tcp4 127.0.0.1:21000: bind: address already in use",
            21000,
        ),
        (
            "failed to set up container networking: driver failed programming external connectivity on "
            "endpoint mgmt-a (e886db93a529): failed to bind host port for "
            "127.0.0.1:21000:172.17.0.2:8080/tcp: address already in use",
            21000,
        ),
        ("Error starting userland proxy: listen tcp6 [::1]:21000: bind: address already in use", 21000),
    ],
)
def test_the_engines_port_in_use_messages_become_409_naming_the_host_port(explanation, port):
    with pytest.raises(PortInUse) as raised, translate_errors("Starting container mgmt-a"):
        raise docker_errors.APIError("500 Server Error", explanation=explanation)
    assert raised.value.status_code == 409
    assert raised.value.ports == [port]
    assert (
        raised.value.message == f"Starting container mgmt-a: host port {port} is already in use on this host."
    )
