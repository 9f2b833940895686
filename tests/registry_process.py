"""A real registry for tests: Debian's `docker-registry` on a loopback port.

`RegistryProcess.start(tmp, htpasswd=("user", "pw"))` starts one (with basic
auth when credentials are given) and stops it with `stop()`. `push(image, repo, tag)`
pushes a local image into it with the docker CLI, using a private DOCKER_CONFIG.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

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
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

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
            process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=log)
        registry = cls(port, root, process, htpasswd)

        def answers() -> bool:
            try:
                return requests.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401)
            except requests.RequestException:
                return False

        assert wait_until(answers, timeout=15), (root / "registry.log").read_text()
        return registry

    def _docker(self, *args: str) -> None:
        env = {**os.environ, "DOCKER_CONFIG": str(self.root / "docker-config")}
        subprocess.run(["docker", *args], check=True, capture_output=True, env=env, timeout=120)

    def push(self, image: str, repository: str, tag: str) -> str:
        """Push a local image as <registry>/<repository>:<tag>; returns that reference."""
        require_docker()
        ref = f"{self.host}/{repository}:{tag}"
        if self.credentials:
            user, password = self.credentials
            env = {**os.environ, "DOCKER_CONFIG": str(self.root / "docker-config")}
            subprocess.run(
                ["docker", "login", "-u", user, "--password-stdin", self.host],
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
        self.process.terminate()
        self.process.wait(timeout=10)
