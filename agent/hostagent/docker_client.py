"""The one Docker client of the process, and Docker's errors as the agent's errors."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import docker
import requests
from docker import errors as docker_errors

from .config import AgentConfig
from .errors import BadRequest, Conflict, DockerFailed, DockerUnavailable, NotFound

log = logging.getLogger("hostagent.docker")

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
