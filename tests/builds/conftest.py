"""Real components for build tests: dockerd, an agent process, a docker-registry, MariaDB, Redis."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from servers.models import Server
from tests.agent_process import AgentProcess
from tests.factories import ServerFactory
from tests.services import require_docker

BASE_IMAGE = "mgmt-test/base:latest"


@pytest.fixture(scope="session")
def docker_images() -> None:
    require_docker()
    subprocess.run(["scripts/build-test-images.sh"], check=True, capture_output=True, timeout=300)


@pytest.fixture(autouse=True)
def build_settings(settings, tmp_path: Path) -> None:
    settings.REGISTRY_ALLOW_LOCAL_TARGETS = True  # the test registries listen on loopback
    settings.UPLOAD_ROOT = str(tmp_path / "uploads")
    settings.UPLOAD_CHUNK_MAX_BYTES = 1024 * 1024
    settings.BUILD_HEARTBEAT_SECONDS = 0.3
    # Cached image lists start empty; only this run's key prefix is touched (never the broker's keys).
    cache.delete_pattern("registry:*") if hasattr(cache, "delete_pattern") else cache.clear()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def created_images() -> Iterator[list[str]]:
    """References a test makes on dockerd (unique names); removed afterwards, only those."""
    references: list[str] = []
    yield references
    for reference in references:
        subprocess.run(["docker", "rmi", "-f", reference], capture_output=True, timeout=60)


@pytest.fixture
def agent(docker_images, agent_factory) -> AgentProcess:
    return agent_factory()


@pytest.fixture
def server(agent: AgentProcess, db, unique: str) -> Server:
    return ServerFactory(name=f"build-host-{unique}", agent_port=agent.port, agent_secret=agent.secret)


@pytest.fixture
def client_as() -> Callable[..., APIClient]:
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make
