"""Fixtures of the agent's tests: one real agent shared by the session, Docker, test images."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator

import docker
import pytest

from tests.agent_process import AgentProcess, start_agent
from tests.services import require_docker

WORKSPACE_IMAGE = "mgmt-test/workspace:latest"
BASE_IMAGE = "mgmt-test/base:latest"


@pytest.fixture(scope="session")
def docker_ready() -> None:
    require_docker()
    subprocess.run(["scripts/build-test-images.sh"], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def docker_client(docker_ready) -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def agent(docker_ready, tmp_path_factory) -> Iterator[AgentProcess]:
    """One real agent for the session (its containers are removed at the end)."""
    process = start_agent(
        workspace_root=tmp_path_factory.mktemp("workspaces"), log_dir=tmp_path_factory.mktemp("agent-log")
    )
    yield process
    process.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def workspace(agent: AgentProcess, unique: str):
    folder = agent.workspace_root / f"ws-{unique}"
    folder.mkdir()
    return folder


@pytest.fixture
def created_images(docker_client) -> Iterator[list[str]]:
    """Image references a test creates; removed afterwards (only those)."""
    references: list[str] = []
    yield references
    for reference in references:
        remove_image_and_its_containers(docker_client, reference)


def remove_image_and_its_containers(client: docker.DockerClient, reference: str) -> None:
    """Remove a test's own image (unique name) and the containers made from it, so nothing dangles."""
    with contextlib.suppress(docker.errors.NotFound):
        for container in client.containers.list(all=True, filters={"ancestor": reference}):
            container.remove(force=True, v=True)
        client.images.remove(reference, force=True)
