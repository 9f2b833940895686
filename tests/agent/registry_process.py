"""Start Debian's `docker-registry` on a free loopback port (optionally with htpasswd auth).

dockerd treats registries on 127.0.0.0/8 as insecure, so plain HTTP works for
pushes and pulls. Each registry stores into its own temporary directory.

    from tests.agent.registry_process import registry_factory  # noqa: F401  (a pytest fixture)

    def test_push(registry_factory):
        registry = registry_factory(username="ci", password="pw")
        registry.address   # "127.0.0.1:41234"
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.agent_process import free_port
from tests.services import require_binary

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""

AUTH = """\
auth:
  htpasswd:
    realm: test-registry
    path: {htpasswd}
"""


@dataclass
class RegistryProcess:
    port: int
    process: subprocess.Popen
    directory: Path
    username: str | None = None
    password: str | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log(self) -> str:
        path = self.directory / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_registry(
    *, directory: Path | str | None = None, username: str | None = None, password: str | None = None
) -> RegistryProcess:
    binary = require_binary("docker-registry", "docker-registry")
    directory = Path(directory or tempfile.mkdtemp(prefix="registry-"))
    port = free_port()
    auth = ""
    if username:
        htpasswd = require_binary("htpasswd", "apache2-utils")
        line = subprocess.run(
            [htpasswd, "-Bbn", username, password or ""], capture_output=True, text=True, check=True
        ).stdout.strip()
        (directory / "htpasswd").write_text(line + "\n")
        auth = AUTH.format(htpasswd=directory / "htpasswd")
    (directory / "storage").mkdir(exist_ok=True)
    config = directory / "config.yml"
    config.write_text(CONFIG.format(root=directory / "storage", port=port, auth=auth))
    with open(directory / "registry.log", "wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    registry = RegistryProcess(port, process, directory, username, password)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited:\n{registry.log()}")
        try:
            if requests.get(f"{registry.url}/v2/", timeout=2).status_code in (200, 401):
                return registry
        except requests.RequestException:
            time.sleep(0.1)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer:\n{registry.log()}")


@pytest.fixture
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryProcess]]:
    started: list[RegistryProcess] = []

    def factory(**kwargs: Any) -> RegistryProcess:
        kwargs.setdefault("directory", tmp_path_factory.mktemp("registry"))
        registry = start_registry(**kwargs)
        started.append(registry)
        return registry

    yield factory
    for registry in started:
        registry.stop()
