"""Health, host figures, GPUs through nvidia-smi, and a Docker Engine that is down."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import requests

from agent.hostagent.system import parse_nvidia_smi
from tests.agent_process import AGENT_DIR, start_agent

pytestmark = pytest.mark.docker

FAKE_NVIDIA_SMI = """#!/bin/sh
# Stand-in for nvidia-smi: answers the one query the agent makes.
case "$*" in
  *--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu*--format=csv,noheader,nounits*)
    echo "0, GPU-aaaa-1111, NVIDIA A100-SXM4-40GB, 40960, 1024, 37"
    echo "1, GPU-bbbb-2222, NVIDIA A100-SXM4-40GB, 40960, [N/A], 0"
    ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
"""


def test_system_stats_reports_the_host(agent, unique, docker_client):
    created = agent.post(
        "/api/containers", json={"name": f"sys-{unique}", "image": "mgmt-test/workspace:latest"}
    )
    assert created.status_code == 201
    answer = agent.get("/get_system_stats")
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["cpu"]["count"] == os.cpu_count()
    assert 0 <= data["cpu"]["percent"] <= 100
    assert len(data["cpu"]["load"]) == 3
    assert 0 < data["memory"]["used"] < data["memory"]["total"]
    for disk in ("workspace", "docker"):
        assert 0 < data["disk"][disk]["used"] < data["disk"][disk]["total"]
    assert data["gpus"] == []  # no nvidia-smi on this machine
    assert data["docker_version"] == docker_client.version()["Version"]
    assert data["containers"]["running"] >= 1
    assert data["containers"]["total"] >= data["containers"]["running"]
    managed = agent.get("/api/containers").json()["data"]
    assert data["containers"]["total"] == len(managed)


def test_gpus_come_from_nvidia_smi_when_it_is_on_the_path(agent_factory, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text(FAKE_NVIDIA_SMI)
    fake.chmod(0o755)
    agent = agent_factory(env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    gpus = agent.get("/get_system_stats").json()["data"]["gpus"]
    assert gpus == [
        {
            "index": 0,
            "uuid": "GPU-aaaa-1111",
            "name": "NVIDIA A100-SXM4-40GB",
            "memory": {"total": 40960 * 1024**2, "used": 1024 * 1024**2},
            "utilization": 37,
        },
        {
            "index": 1,
            "uuid": "GPU-bbbb-2222",
            "name": "NVIDIA A100-SXM4-40GB",
            "memory": {"total": 40960 * 1024**2, "used": None},
            "utilization": 0,
        },
    ]
    # With two GPUs reported, three are still refused before Docker is asked.
    refused = agent.post(
        "/api/containers", json={"name": "g", "image": "mgmt-test/workspace:latest", "gpus": 3}
    )
    assert refused.status_code == 400
    assert "this host has 2" in refused.json()["message"]


def test_parse_nvidia_smi_skips_odd_lines():
    assert parse_nvidia_smi("\n garbage line\n0, u, name, 10, 5, 1\n") == [
        {"index": 0, "uuid": "u", "name": "name", "memory": {"total": 10 * 1024**2, "used": 5 * 1024**2},
         "utilization": 1}
    ]  # fmt: skip


def test_a_docker_engine_that_is_down_gives_503_not_a_traceback(agent_factory):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    agent = agent_factory(docker_host=dead)
    health = requests.get(f"{agent.url}/health", timeout=10).json()["data"]
    assert health == {"status": "ok", "version": "0.1.0", "docker": False}
    for method, path, body in (
        ("GET", "/get_system_stats", None),
        ("GET", "/api/containers", None),
        ("POST", "/api/containers", {"name": "x", "image": "mgmt-test/workspace:latest"}),
        ("POST", "/api/containers/x/stop", None),
        ("GET", "/api/images", None),
        ("POST", "/api/images/pull", {"image": "mgmt-test/workspace:latest"}),
        ("POST", "/api/images/build", {"tag": "mgmt-test/x:1", "dockerfile": "FROM scratch"}),
    ):
        answer = agent.request(method, path, json=body)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json() == {
            "success": False,
            "message": answer.json()["message"],
            "data": None,
        }
        assert "the Docker Engine is not answering" in answer.json()["message"]
    assert "Traceback" not in agent.log()


def test_the_agent_refuses_to_start_without_a_usable_configuration(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "hostagent.settings",
        "AGENT_SECRET": "short",
        "AGENT_PORT": "http",
        "AGENT_PUBLISH_ADDRESS": "0.0.0.0",
        "AGENT_WORKSPACE_ROOT": "relative",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=AGENT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    for problem in (
        "AGENT_SECRET: must be at least 16 characters",
        "AGENT_PORT: 'http' is not a whole number",
        "AGENT_PUBLISH_ADDRESS: must not be every interface",
        "AGENT_WORKSPACE_ROOT: 'relative' is not an absolute path",
    ):
        assert problem in result.stderr
    with pytest.raises(RuntimeError, match="AGENT_SECRET: required"):
        start_agent(workspace_root=tmp_path, env={"AGENT_SECRET": ""}, startup_timeout=15)
