"""A real registry for tests: Debian's `docker-registry` on a free loopback port.

The one helper for every test that needs a registry (agent, registry client,
builds). dockerd treats registries on 127.0.0.0/8 as insecure, so plain HTTP
works for pushes and pulls. Each registry stores into its own directory.

    registry = RegistryProcess.start(tmp, htpasswd=("user", "pw"))   # basic auth when given
    registry.url      # "http://127.0.0.1:41234"
    registry.address  # "127.0.0.1:41234"
    registry.push("mgmt-test/base:latest", "team/base", "v1")      # docker CLI, private DOCKER_CONFIG
    registry.stop()   # also removes the local tags `push` made

or, in pytest, the `registry_factory` fixture (`registry_factory(username=, password=)`),
which stops every registry it started.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.net import free_port, wait_until
from tests.services import require_binary, require_docker


@dataclass
class RegistryProcess:
    port: int
    root: Path
    process: subprocess.Popen
    credentials: tuple[str, str] | None = None
    pushed: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    host = address

    @property
    def username(self) -> str | None:
        return self.credentials[0] if self.credentials else None

    @property
    def password(self) -> str | None:
        return self.credentials[1] if self.credentials else None

    @classmethod
    def start(
        cls, root: Path, *, htpasswd: tuple[str, str] | None = None, delete_enabled: bool = True
    ) -> RegistryProcess:
        binary = require_binary("docker-registry", "docker-registry")
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        auth = ""
        if htpasswd:
            htpasswd_bin = require_binary("htpasswd", "apache2-utils")
            line = subprocess.run(
                [htpasswd_bin, "-Bbn", *htpasswd], check=True, capture_output=True, text=True
            ).stdout
            (root / "htpasswd").write_text(line)
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {root / 'htpasswd'}\n"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"  delete:\n    enabled: {str(delete_enabled).lower()}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
        )
        with open(root / "registry.log", "w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        registry = cls(port, root, process, htpasswd)

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{registry.log()}")
            try:
                return requests.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401)
            except requests.RequestException:
                return False

        if not wait_until(answers, timeout=20):
            registry.stop()
            raise RuntimeError(f"docker-registry did not answer:\n{registry.log()}")
        return registry

    def log(self) -> str:
        path = self.root / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _docker(self, *args: str) -> None:
        env = {**os.environ, "DOCKER_CONFIG": str(self.root / "docker-config")}
        subprocess.run(["docker", *args], check=True, capture_output=True, env=env, timeout=120)

    def push(self, image: str, repository: str, tag: str) -> str:
        """Push a local image as <registry>/<repository>:<tag>; returns that reference."""
        require_docker()
        ref = f"{self.address}/{repository}:{tag}"
        if self.credentials:
            user, password = self.credentials
            env = {**os.environ, "DOCKER_CONFIG": str(self.root / "docker-config")}
            subprocess.run(
                ["docker", "login", "-u", user, "--password-stdin", self.address],
                input=password,
                text=True,
                check=True,
                capture_output=True,
                env=env,
                timeout=60,
            )
        self._docker("tag", image, ref)
        self.pushed.append(ref)
        self._docker("push", ref)
        return ref

    def stop(self) -> None:
        for ref in self.pushed:
            subprocess.run(["docker", "rmi", ref], capture_output=True)
        self.pushed.clear()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RegistryProcess]]:
    """`registry_factory(username=None, password=None, delete_enabled=True)`; all stopped afterwards."""
    started: list[RegistryProcess] = []

    def factory(
        *, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> RegistryProcess:
        htpasswd = (username, password or "") if username else None
        registry = RegistryProcess.start(tmp_path_factory.mktemp("registry"), htpasswd=htpasswd, **kwargs)
        started.append(registry)
        return registry

    yield factory
    for registry in started:
        registry.stop()
