"""The whole workspace stack for tests: a real agent, a real nginx in front of a live Django
server, the server registered, folders in the test's own directories.

    def test_x(stack):            # (fixture from tests/containers/conftest.py)
        ws, _ = workspace_approve(actor=admin, user=alice)
        cookie = stack.edge_login(token, "alice")            # the browser's handshake, by hand
        stack.ws("alice", "vscode", "/", cookie)             # through nginx, on alice--vscode.localhost
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

from servers.models import Server, ServerStatus
from tests.agent_process import AgentProcess
from tests.edge_client import edge_handshake
from tests.factories import ServerFactory
from tests.net import wait_until
from tests.nginx_process import NginxProcess


@dataclass
class Stack:
    agent: AgentProcess | None  # None: an edge-only stack (no Docker)
    nginx: NginxProcess
    server: Server | None
    deploy: Path
    template: Path
    live_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, token: str | None = None, **headers: str) -> requests.Response:
        """GET on the platform's host through nginx, with the platform's session cookie."""
        cookies = {settings.SESSION_COOKIE_NAME_WORKSPACE: token} if token else {}
        return self.nginx.get(f"localhost:{self.nginx.port}", path, cookies=cookies, headers=headers)

    def ws(
        self, username: str, app: str = "vscode", path: str = "/", edge: str | None = None, **headers: str
    ) -> requests.Response:
        """GET on a workspace host through nginx, with an edge cookie."""
        cookies = {settings.EDGE_COOKIE_NAME: edge} if edge else {}
        return self.nginx.get(self.nginx.host(username, app), path, cookies=cookies, headers=headers)

    def edge_login(self, token: str, username: str, app: str = "vscode", path: str = "/") -> str:
        """The browser's redirect handshake, step by step; the workspace host's cookie."""
        return edge_handshake(self.nginx.base_url, self.nginx.host(username, app), token, path)

    def ws_becomes(self, username: str, app: str, edge: str, expected: int, timeout: float = 20) -> bool:
        """The app inside starts a moment after the container; wait for three answers in a row."""
        streak = [0]

        def settled() -> bool:
            try:
                ok = self.ws(username, app, "/", edge).status_code == expected
            except requests.RequestException:
                ok = False
            streak[0] = streak[0] + 1 if ok else 0
            return streak[0] >= 3

        return wait_until(settled, timeout=timeout, interval=0.1)

    def containers(self) -> list[str]:
        """Names of the containers this test's agent manages (running or not)."""
        assert self.agent is not None
        answer = self.agent.get("/api/containers")
        answer.raise_for_status()
        return sorted(c["name"] for c in answer.json()["data"])


def unique_username(stem: str = "u") -> str:
    return f"{stem}{uuid.uuid4().hex[:8]}"


def register_server(agent: AgentProcess, *, name: str | None = None, **fields: Any) -> Server:
    defaults: dict[str, Any] = {
        "status": ServerStatus.ONLINE,
        "memory_total": 64 * 1024**3,
        "cpu_count": 8,
        "gpu_count": 0,
    }
    defaults.update(fields)
    return ServerFactory(
        name=name or f"host-{uuid.uuid4().hex[:6]}",
        agent_port=agent.port,
        agent_secret=agent.secret,
        **defaults,
    )
