"""The one Docker client of the process, and Docker's errors as the agent's errors."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator

import docker
import requests
from docker import errors as docker_errors

from .config import AgentConfig
from .errors import BadRequest, Conflict, DockerFailed, DockerUnavailable, NotFound, PortInUse

log = logging.getLogger("hostagent.docker")

# How the Engine says a host port is taken, across versions: "Bind for 127.0.0.1:21000 failed:
# port is already allocated" (another container), "listen tcp4 127.0.0.1:21000: bind: address
# already in use" (another process), "failed to bind host port for 127.0.0.1:21000:172.17.0.2:8080/tcp:
# address already in use" (Engine 28).
_PORT_IN_USE_RE = re.compile(r"port is already allocated|address already in use|EADDRINUSE", re.IGNORECASE)
_HOST_PORT_RE = re.compile(r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]*\]):(\d{1,5})\b")

_client: docker.DockerClient | None = None
_client_lock = threading.Lock()


def get_client(config: AgentConfig) -> docker.DockerClient:
    """A shared client (its connection pool is thread-safe), created at first use.

    Creating it asks the Engine for its API version, so a daemon that is down
    raises DockerUnavailable here; the next request tries again.
    """
    global _client
    with _client_lock:
        if _client is None:
            with translate_errors("Connecting to the Docker Engine"):
                if config.docker_host:
                    _client = docker.DockerClient(
                        base_url=config.docker_host, timeout=config.docker_timeout, version="auto"
                    )
                else:
                    _client = docker.from_env(timeout=config.docker_timeout)
        return _client


def docker_answers(config: AgentConfig) -> bool:
    try:
        return bool(get_client(config).ping())
    except (docker_errors.DockerException, requests.RequestException, OSError, DockerUnavailable):
        return False


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn Docker's failures into the agent's errors, with the operation named."""
    try:
        yield
    except docker_errors.NotFound as exc:
        raise NotFound(f"{what}: {_explain(exc)}") from exc
    except docker_errors.APIError as exc:
        status = exc.status_code or 500
        explanation = _explain(exc)
        if _PORT_IN_USE_RE.search(explanation):
            # Start failed on port publishing: a conflict with the host's state, not an Engine fault.
            # The first address:port is the host side (the Engine names one port per failure).
            port = _HOST_PORT_RE.search(explanation)
            raise PortInUse([int(port.group(1))] if port else [], what=what) from exc
        if status == 409:
            raise Conflict(f"{what}: {_explain(exc)}") from exc
        if 400 <= status < 500:
            raise BadRequest(f"{what}: {_explain(exc)}") from exc
        raise DockerFailed(f"{what}: the Docker Engine answered {status}: {_explain(exc)}") from exc
    except (docker_errors.DockerException, requests.RequestException, OSError) as exc:
        # Also what docker.from_env raises when the daemon is down at the first call.
        log.warning("%s: Docker is not answering: %s", what, exc)
        raise DockerUnavailable(f"{what}: the Docker Engine is not answering.") from exc


def _explain(exc: docker_errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or exc)
