"""The edge stack fixtures, registered for every test in the root conftest (`pytest_plugins`).

`workspace_dirs` (this test's agent workspace root and folder template), `edge_stack` (nginx in
front of a live Django, no Docker) and `stack` (the same with a real agent registered as a
server). Used by the containers, maintenance and admin_ui tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.stack import Stack, register_server
from tests.nginx_process import NginxProcess
from tests.services import require_docker


@pytest.fixture
def workspace_dirs(tmp_path: Path, settings) -> dict[str, Path]:
    """The agent's workspace root ("deploy") and folder template of this test only."""
    tmp_path.chmod(0o755)  # nginx workers and containers may run as another user
    dirs = {name: tmp_path / name for name in ("deploy", "template")}
    for path in dirs.values():
        path.mkdir()
        path.chmod(0o755)
    (dirs["template"] / "README.txt").write_text("Your workspace.\n")
    (dirs["template"] / "notebooks").mkdir()
    return dirs


@pytest.fixture
def edge_stack(transactional_db, live_server, workspace_dirs, tmp_path, settings) -> Iterator[Stack]:
    """nginx in front of a live Django, without Docker: routes point at test upstreams."""
    proxy = NginxProcess.start(
        tmp_path / "nginx", backend=live_server.url.removeprefix("http://"), settings=settings
    )
    yield Stack(
        agent=None,
        nginx=proxy,
        server=None,
        deploy=workspace_dirs["deploy"],
        template=workspace_dirs["template"],
        live_url=live_server.url,
    )
    proxy.stop()


@pytest.fixture
def stack(edge_stack, workspace_dirs, agent_factory) -> Stack:
    """The edge stack with a real agent in front of dockerd, registered as a server."""
    require_docker()
    dirs = workspace_dirs
    agent = agent_factory(workspace_root=dirs["deploy"], workspace_template=dirs["template"])
    return dataclasses.replace(edge_stack, agent=agent, server=register_server(agent))
