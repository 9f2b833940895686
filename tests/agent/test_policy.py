"""The container policy holds whatever the caller asks; `docker inspect` is the proof."""

from __future__ import annotations

import os

import pytest
from docker.types import DeviceRequest

from agent.hostagent.config import AgentConfig
from agent.hostagent.policy import FORBIDDEN_OPTIONS, build_create_kwargs, validate_spec
from tests.agent.conftest import WORKSPACE_IMAGE

pytestmark = pytest.mark.docker


def _inspect(docker_client, ident):
    return docker_client.api.inspect_container(ident)


def test_created_container_carries_every_policy_setting(agent, workspace, unique, docker_client):
    answer = agent.post(
        "/api/containers",
        json={
            "name": f"pol-{unique}",
            "image": WORKSPACE_IMAGE,
            "ports": [8080, 8888],
            "workspace_folder": str(workspace),
            "cpu": 0.5,
            "memory": "256m",
            "labels": {"user": "alice", "workspace": "7"},
        },
    )
    assert answer.status_code == 201, answer.text
    attrs = _inspect(docker_client, answer.json()["data"]["id"])
    host = attrs["HostConfig"]
    assert attrs["Name"] == f"/{agent.label_prefix}-pol-{unique}"
    assert host["Privileged"] is False
    assert not host["CapAdd"]
    assert host["NetworkMode"] == "bridge"
    assert host["PidMode"] == ""
    assert host["IpcMode"] == "private"
    assert host["UTSMode"] == ""
    assert not host["Devices"]
    assert not host["DeviceRequests"]
    assert host["Binds"] == [f"{os.path.realpath(workspace)}:/workspace:rw"]
    assert [m["Source"] for m in attrs["Mounts"]] == [os.path.realpath(workspace)]
    assert host["Memory"] == 256 * 1024**2
    assert host["MemorySwap"] == 256 * 1024**2
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 4096
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["PublishAllPorts"] is False
    assert host["PortBindings"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
    }
    bound = attrs["NetworkSettings"]["Ports"]
    assert all(b["HostIp"] == "127.0.0.1" for bindings in bound.values() for b in bindings)
    labels = attrs["Config"]["Labels"]
    assert labels[f"{agent.label_prefix}.managed"] == "true"
    assert labels[f"{agent.label_prefix}.user"] == "alice"
    assert labels[f"{agent.label_prefix}.workspace"] == "7"


def test_limits_are_set_when_the_request_gives_none(agent, unique, docker_client):
    answer = agent.post("/api/containers", json={"name": f"def-{unique}", "image": WORKSPACE_IMAGE})
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["ports"] == {}  # the image exposes 8080/8888; none is published
    host = _inspect(docker_client, answer.json()["data"]["id"])["HostConfig"]
    assert host["Memory"] == 2 * 1024**3
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 4096
    assert not host["Binds"]
    assert not host["PortBindings"]
    assert not _inspect(docker_client, answer.json()["data"]["id"])["NetworkSettings"]["Ports"].get(
        "8080/tcp"
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("privileged", True),
        ("cap_add", ["SYS_ADMIN"]),
        ("network_mode", "host"),
        ("pid_mode", "host"),
        ("ipc_mode", "host"),
        ("devices", ["/dev/sda:/dev/sda"]),
        ("volumes", {"/": {"bind": "/host"}}),
        ("binds", ["/:/host"]),
        ("security_opt", ["seccomp=unconfined"]),
        ("restart_policy", {"Name": "no"}),
        ("publish_all_ports", True),
        ("command", ["sh"]),
    ],
)
def test_each_forbidden_option_is_refused_and_nothing_is_created(agent, unique, docker_client, option, value):
    name = f"bad-{unique}"
    answer = agent.post("/api/containers", json={"name": name, "image": WORKSPACE_IMAGE, option: value})
    assert answer.status_code == 400
    assert answer.json()["message"] == f"{option}: not allowed by the agent's container policy."
    assert not docker_client.containers.list(all=True, filters={"name": f"{agent.label_prefix}-{name}"})


def test_agent_set_labels_cannot_be_overridden(agent, unique):
    for key in ("managed", f"{agent.label_prefix}.managed", "spec"):
        answer = agent.post(
            "/api/containers", json={"name": f"lab-{unique}", "image": WORKSPACE_IMAGE, "labels": {key: "x"}}
        )
        assert answer.status_code == 400
        assert "set by the agent" in answer.json()["message"]


def test_workspace_folders_outside_the_root_are_refused(agent, unique, tmp_path, docker_client):
    root = agent.workspace_root
    outside = tmp_path / f"outside-{unique}"
    outside.mkdir()
    (root / f"link-{unique}").symlink_to(outside)
    inside = root / f"in-{unique}"
    inside.mkdir()
    (inside / "up").symlink_to("../..")
    cases = {
        "/etc": "is not inside the workspace root",
        str(root): "is not inside the workspace root",
        f"{root}/in-{unique}/../../": "is not inside the workspace root",
        f"{root}/link-{unique}": "is not inside the workspace root",
        f"{root}/in-{unique}/up": "is not inside the workspace root",
        f"{root}/missing-{unique}": "is not an existing directory",
        "relative/path": "must be an absolute path",
    }
    for folder, message in cases.items():
        answer = agent.post(
            "/api/containers",
            json={"name": f"esc-{unique}", "image": WORKSPACE_IMAGE, "workspace_folder": folder},
        )
        assert answer.status_code == 400, (folder, answer.text)
        assert message in answer.json()["message"], folder
    assert not docker_client.containers.list(all=True, filters={"name": f"{agent.label_prefix}-esc-{unique}"})


def test_ports_are_published_on_the_configured_address_only(agent_factory, unique, docker_client):
    other = agent_factory(publish_address="127.0.0.2")
    answer = other.post(
        "/api/containers", json={"name": f"pub-{unique}", "image": WORKSPACE_IMAGE, "ports": [8080]}
    )
    assert answer.status_code == 201, answer.text
    bound = _inspect(docker_client, answer.json()["data"]["id"])["NetworkSettings"]["Ports"]["8080/tcp"]
    assert [b["HostIp"] for b in bound] == ["127.0.0.2"]


def test_gpu_request_becomes_a_device_request_only_when_asked(tmp_path):
    config = AgentConfig(secret="s" * 32, workspace_root=str(tmp_path), label_prefix="gp")
    spec = validate_spec(
        config, {"name": "g", "image": "ide:1", "gpus": 2}, host_cpus=4, host_memory=8 * 1024**3, host_gpus=2
    )
    kwargs = build_create_kwargs(config, spec)
    assert kwargs["device_requests"] == [DeviceRequest(count=2, capabilities=[["gpu"]])]
    assert kwargs["privileged"] is False
    assert kwargs["devices"] is None
    no_gpu = validate_spec(
        config, {"name": "g", "image": "ide:1"}, host_cpus=4, host_memory=8 * 1024**3, host_gpus=2
    )
    assert "device_requests" not in build_create_kwargs(config, no_gpu)


def test_forbidden_options_list_covers_the_dangerous_docker_arguments():
    for option in ("privileged", "cap_add", "network_mode", "pid_mode", "ipc_mode", "devices", "volumes"):
        assert option in FORBIDDEN_OPTIONS


def test_only_the_configured_workspace_user_may_be_asked_for():
    from agent.hostagent.config import AgentConfig
    from agent.hostagent.errors import BadRequest
    from agent.hostagent.policy import build_create_kwargs, validate_spec

    config = AgentConfig(secret="s" * 32, workspace_root="/tmp", workspace_user="1000:1000")
    base = {"name": "ws", "image": "mgmt-test/workspace:latest"}

    def spec(**extra):
        return validate_spec(config, {**base, **extra}, host_cpus=8, host_memory=64 * 1024**3, host_gpus=0)

    assert build_create_kwargs(config, spec(user="1000:1000"))["user"] == "1000:1000"
    assert "user" not in build_create_kwargs(config, spec())  # the image's own user
    assert spec(user="1000:1000").fingerprint() != spec().fingerprint()
    for other in ("0:0", "root", "1001:1001", "1000", "1000:1000\n", 1000):
        with pytest.raises(BadRequest, match="only 1000:1000"):
            spec(user=other)


def test_a_container_runs_as_the_workspace_user_when_asked_and_never_as_another(agent, unique, docker_client):
    name = f"usr-{unique}"
    refused = agent.post("/api/containers", json={"name": name, "image": WORKSPACE_IMAGE, "user": "0:0"})
    assert refused.status_code == 400 and "only 1000:1000" in refused.json()["message"]
    assert not docker_client.containers.list(all=True, filters={"name": f"{agent.label_prefix}-{name}"})
    made = agent.post("/api/containers", json={"name": name, "image": WORKSPACE_IMAGE, "user": "1000:1000"})
    assert made.status_code == 201, made.text
    assert docker_client.api.inspect_container(made.json()["data"]["id"])["Config"]["User"] == "1000:1000"
