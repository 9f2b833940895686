"""Start a real host agent (gunicorn serving `agent/`) on a free loopback port.

For the agent's own tests and for every test that talks to an agent (the
servers app starts several, with different secrets). Each agent gets its own
label prefix (unique per call unless given), so it only ever sees and cleans
up the containers it created itself.

    def test_something(agent_factory, tmp_path):
        agent = agent_factory(secret="s" * 32, workspace_root=tmp_path)
        answer = agent.get("/api/containers")          # signed with the agent's secret
        assert answer.status_code == 200

Outside pytest: `agent = start_agent(...)`, then `agent.stop()`.
`agent.stop()` (called by the fixture) also removes every container carrying
the agent's label prefix.
"""

from __future__ import annotations

import json as jsonlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from agent.hostagent.signing import sign_headers
from tests.net import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
AGENT_DIR = REPO_ROOT / "agent"


def managed_container_names(label_prefix: str) -> list[str]:
    """Containers carrying an agent's labels, asked of Docker itself (works while the agent is down)."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label={label_prefix}.managed"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return sorted(out.split())


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@dataclass
class AgentProcess:
    url: str
    port: int
    secret: str
    label_prefix: str
    workspace_root: Path
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)
    verify: str | bool = True  # the CA/certificate file when the agent serves TLS

    # --- requests -------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        files: dict | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        secret: str | None = None,
        stream: bool = False,
        timeout: float = 120,
    ) -> requests.Response:
        """Send a request signed with the agent's secret (or `secret`, or unsigned)."""
        prepared = self.prepare(method, path, json=json, data=data, files=files, headers=headers)
        if sign:
            prepared.headers.update(self.signature_headers(prepared, secret=secret))
        with requests.Session() as session:
            return session.send(prepared, stream=stream, timeout=timeout, verify=self.verify)

    def prepare(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        files: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.PreparedRequest:
        if json is not None:
            data = jsonlib.dumps(json).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        return requests.Request(method, self.url + path, data=data, files=files, headers=headers).prepare()

    def signature_headers(self, prepared: requests.PreparedRequest, *, secret: str | None = None) -> dict:
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        return sign_headers(secret or self.secret, prepared.method or "GET", prepared.path_url, body)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # --- life cycle -----------------------------------------------------------------------------
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def remove_containers(self) -> None:
        """Remove every container with this agent's label prefix (only ours: the prefix is unique)."""
        out = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={self.label_prefix}.managed"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if out:
            subprocess.run(["docker", "rm", "-f", "-v", *out], capture_output=True, timeout=60)

    def stop(self, *, remove_containers: bool = True) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if remove_containers:
            self.remove_containers()


def start_agent(
    *,
    workspace_root: Path | str,
    workspace_template: Path | str | None = None,
    secret: str | None = None,
    label_prefix: str | None = None,
    docker_host: str | None = None,
    publish_address: str = "127.0.0.1",
    port: int | None = None,
    env: dict[str, str] | None = None,
    startup_timeout: float = 30,
    log_dir: Path | str | None = None,
    tls: tuple[Path | str, Path | str] | None = None,
    bind: str = "127.0.0.1",
    command_prefix: Sequence[str] = (),
) -> AgentProcess:
    """Start gunicorn serving the agent and wait until `/health` answers; raise with its log otherwise.

    `tls=(certificate, key)` serves HTTPS; requests then verify against that certificate.
    `bind` is the address it listens on (and is reached at); `command_prefix` runs it through
    another command, e.g. `nsenter --net=/run/netns/<ns>` for a simulated host (tests/netns_hosts.py).
    """
    secret = secret or secrets.token_hex(24)
    label_prefix = label_prefix or unique_prefix()
    port = port or free_port()
    workspace_root = Path(workspace_root)
    workspace_root.mkdir(parents=True, exist_ok=True)
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AGENT_", "DJANGO_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    child_env.update(
        {
            "DJANGO_SETTINGS_MODULE": "hostagent.settings",
            "AGENT_SECRET": secret,
            "AGENT_BIND": bind,
            "AGENT_PORT": str(port),
            "AGENT_WORKSPACE_ROOT": str(workspace_root),
            "AGENT_LABEL_PREFIX": label_prefix,
            "AGENT_PUBLISH_ADDRESS": publish_address,
            "AGENT_THREADS": "8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if docker_host:
        child_env["AGENT_DOCKER_HOST"] = docker_host
    if workspace_template:
        child_env["AGENT_WORKSPACE_TEMPLATE"] = str(workspace_template)
    if tls:
        child_env["AGENT_TLS_CERT"], child_env["AGENT_TLS_KEY"] = str(tls[0]), str(tls[1])
    child_env.update(env or {})
    log_path = Path(log_dir or tempfile.gettempdir()) / f"agent-{label_prefix}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command_prefix, sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "hostagent.wsgi"],
            cwd=AGENT_DIR,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    agent = AgentProcess(
        url=f"{'https' if tls else 'http'}://{bind}:{port}",
        port=port,
        secret=secret,
        label_prefix=label_prefix,
        workspace_root=workspace_root,
        process=process,
        log_path=log_path,
        env=child_env,
        verify=str(tls[0]) if tls else True,
    )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The agent exited with {process.returncode}:\n{agent.log()}")
        try:
            if requests.get(f"{agent.url}/health", timeout=2, verify=agent.verify).status_code == 200:
                return agent
        except requests.RequestException:
            pass
        time.sleep(0.1)
    agent.stop()
    raise RuntimeError(f"The agent did not answer /health within {startup_timeout}s:\n{agent.log()}")


@pytest.fixture
def agent_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AgentProcess]]:
    """`agent_factory(**start_agent_kwargs)` starts an agent; all are stopped and cleaned up afterwards."""
    started: list[AgentProcess] = []

    def factory(**kwargs: Any) -> AgentProcess:
        kwargs.setdefault("workspace_root", tmp_path_factory.mktemp("agent-workspaces"))
        kwargs.setdefault("log_dir", tmp_path_factory.mktemp("agent-log"))
        agent = start_agent(**kwargs)
        started.append(agent)
        return agent

    yield factory
    for agent in started:
        agent.stop()
