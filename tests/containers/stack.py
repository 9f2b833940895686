"""The whole workspace stack for tests: a real agent, a real nginx in front of a live Django
server, the server registered, folders and routes in the test's own directories.

    def test_x(stack):            # (fixture from tests/containers/conftest.py)
        ws, _ = workspace_approve(actor=stack.admin, user=alice)
        stack.get("/alice/vscode/", token)   # through nginx
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
from tests.net import wait_until
from tests.nginx_process import NginxProcess


@dataclass
class Stack:
    agent: AgentProcess
    nginx: NginxProcess
    server: Server
    deploy: Path
    template: Path
    routes: Path
    live_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, token: str | None = None, **headers: str) -> requests.Response:
        cookies = {settings.SESSION_COOKIE_NAME_WORKSPACE: token} if token else {}
        return requests.get(
            self.nginx.base_url + path, cookies=cookies, headers=headers, timeout=10, allow_redirects=False
        )

    def status_becomes(self, path: str, token: str | None, expected: int, timeout: float = 20) -> bool:
        """nginx reloads asynchronously and the app inside starts a moment after the container."""
        streak = [0]

        def settled() -> bool:
            try:
                ok = self.get(path, token).status_code == expected
            except requests.RequestException:
                ok = False
            streak[0] = streak[0] + 1 if ok else 0
            return streak[0] >= 3

        return wait_until(settled, timeout=timeout, interval=0.1)

    def containers(self) -> list[str]:
        """Names of the containers this test's agent manages (running or not)."""
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
    return Server.objects.create(
        name=name or f"host-{uuid.uuid4().hex[:6]}",
        address="127.0.0.1",
        agent_port=agent.port,
        agent_secret=agent.secret,
        **defaults,
    )
