"""The one client for the host agents' HTTP API (docs/agent-api.md).

- One pooled `requests.Session` per process; every request is signed with the
  host's secret by `agent/hostagent/signing.py` (the agent's own module).
- Connect and read timeouts on every call; redirects are never followed (an
  agent has no reason to redirect, and following one could send a signed
  request elsewhere).
- Retries only for idempotent calls (GET), only when the request never reached
  the agent (connection refused/reset, e.g. a stale pooled connection), each
  attempt signed afresh (a nonce is accepted once), and never after a timeout:
  a dead agent costs its timeout once.
- Failures are domain errors: `AgentUnavailable` (503, names the host) when the
  agent cannot be reached, `AgentError` carrying the agent's own message and
  status otherwise.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.filepost import encode_multipart_formdata

from agent.hostagent.signing import sign_headers
from mgmt.exceptions import ApplicationError, UpstreamUnavailable

# The agent's log cursor, "<unix seconds>.<nanoseconds>" (agent/hostagent/containers.py).
LOG_CURSOR_RE = r"\A[0-9]{1,12}\.[0-9]{9}\Z"


class AgentUnavailable(UpstreamUnavailable):
    """The agent did not answer (refused, timed out, TLS or protocol failure)."""


class AgentError(ApplicationError):
    """The agent answered with an error; `message` is the agent's message, status mirrors it."""

    def __init__(self, message: str, *, status: int, host: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.agent_status = status
        self.host = host
        # Bad input, conflicts, missing objects and too-large bodies keep their meaning;
        # the rest (Docker failed, Docker down, signature refused) is upstream trouble.
        self.status_code = status if status in (400, 404, 409, 413) else 503


_CHUNK = 1024 * 1024


@dataclass
class FolderArchive:
    """A folder's tar on its way from one agent to another: read like a file of `size` bytes."""

    response: requests.Response
    size: int
    sha256: str
    sent: int = 0

    def __len__(self) -> int:  # requests sends a Content-Length, not chunks
        return self.size

    def read(self, amount: int = -1) -> bytes:
        # http.client asks for 8 KiB at a time; a MiB per call keeps Python out of the way.
        data = self.response.raw.read(max(amount, _CHUNK) if amount and amount > 0 else None)
        self.sent += len(data)
        return data

    def __enter__(self) -> FolderArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.response.close()


_session_lock = threading.Lock()
_session: requests.Session | None = None


def _shared_session() -> requests.Session:
    """A process-wide session: keep-alive connections to every agent, reused by every thread."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy from the environment between us and the agents
            # One small pool per agent host (many hosts are kept), a few connections each.
            adapter = HTTPAdapter(pool_connections=256, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session = session
        return _session


@dataclass(frozen=True)
class AgentTarget:
    """Where an agent is and how to authenticate to it (built from a Server)."""

    name: str
    base_url: str
    secret: str

    @classmethod
    def for_server(cls, server: Any) -> AgentTarget:
        return cls(name=server.name, base_url=server.agent_url, secret=server.agent_secret)


class AgentClient:
    IDEMPOTENT = frozenset({"GET", "HEAD"})
    RETRIES = 1

    def __init__(
        self,
        target: AgentTarget,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.target = target
        self.connect_timeout = settings.AGENT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self.read_timeout = settings.AGENT_READ_TIMEOUT if read_timeout is None else read_timeout
        self.session = session or _shared_session()
        self._streams: set[requests.Response] = set()
        self._streams_lock = threading.Lock()

    @classmethod
    def for_server(cls, server: Any, **kwargs: Any) -> AgentClient:
        return cls(AgentTarget.for_server(server), **kwargs)

    # --- transport -------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | list[tuple[str, str]] | None = None,
        body: bytes | IO[bytes] = b"",
        content_type: str | None = None,
        stream: bool = False,
        read_timeout: float | None = None,
        signed: bool = True,
        body_sha256: str | None = None,
    ) -> requests.Response:
        """`body` may be an open file (sent as it is read) when `body_sha256` is its checksum."""
        path_with_query = path + ("?" + urlencode(query) if query else "")
        url = self.target.base_url + path_with_query
        attempts = 1 + (self.RETRIES if method in self.IDEMPOTENT else 0)
        timeout = (self.connect_timeout, self.read_timeout if read_timeout is None else read_timeout)
        for attempt in range(attempts):
            headers = {"Accept": "application/json"}
            if content_type:
                headers["Content-Type"] = content_type
            if signed:
                if body_sha256 is not None:
                    headers.update(
                        sign_headers(self.target.secret, method, path_with_query, body_sha256=body_sha256)
                    )
                else:
                    headers.update(sign_headers(self.target.secret, method, path_with_query, body))
            try:
                response = self.session.request(
                    method,
                    url,
                    data=body or None,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=stream,
                    verify=settings.AGENT_CA_BUNDLE or True,
                )
            except requests.exceptions.SSLError as exc:
                raise AgentUnavailable(
                    f"TLS with the agent on {self.target.name} failed (certificate not trusted or invalid)."
                ) from exc
            except requests.Timeout as exc:
                raise AgentUnavailable(
                    f"Agent on {self.target.name} did not answer within its timeout."
                ) from exc
            except requests.ConnectionError as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.05)
                    continue
                raise AgentUnavailable(f"Agent on {self.target.name} is unreachable.") from exc
            except requests.RequestException as exc:
                raise AgentUnavailable(
                    f"Agent on {self.target.name} could not be asked ({type(exc).__name__})."
                ) from exc
            return self._checked(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checked(self, response: requests.Response) -> requests.Response:
        if response.is_redirect or 300 <= response.status_code < 400:
            response.close()
            raise AgentError(
                f"Agent on {self.target.name} answered with a redirect; redirects are not followed.",
                status=502,
                host=self.target.name,
            )
        if response.status_code >= 400:
            message = _message_of(response) or f"HTTP {response.status_code}"
            raise AgentError(
                f"Agent on {self.target.name}: {message}",
                status=response.status_code,
                host=self.target.name,
                details=_data_of(response),
            )
        return response

    def _json(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> Any:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        content_type = "application/json" if payload is not None else None
        response = self._send(method, path, body=body, content_type=content_type, **kwargs)
        try:
            document = response.json()
        except ValueError as exc:
            raise AgentError(
                f"Agent on {self.target.name} answered with something that is not JSON.",
                status=502,
                host=self.target.name,
            ) from exc
        if isinstance(document, dict) and {"success", "data"} <= document.keys():
            return document["data"]
        return document

    def _stream_lines(self, method: str, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """NDJSON lines as they arrive; the read timeout applies per chunk, not to the whole."""
        response = self._send(
            method, path, stream=True, read_timeout=settings.AGENT_STREAM_READ_TIMEOUT, **kwargs
        )
        with self._streams_lock:
            self._streams.add(response)
        try:
            for line in response.iter_lines():
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {"line": line.decode(errors="replace")}
        except requests.RequestException as exc:
            raise AgentUnavailable(f"Agent on {self.target.name} broke off the stream.") from exc
        finally:
            with self._streams_lock:
                self._streams.discard(response)
            response.close()

    def abort_streams(self) -> None:
        """From another thread: end this client's open streams at once, even while nothing arrives.

        Shutting the socket down wakes the reader (it sees the stream end); the agent then
        loses its client, which makes it drop the Docker call (a build is aborted by dockerd).
        """
        with self._streams_lock:
            responses = list(self._streams)
        for response in responses:
            connection = getattr(response.raw, "connection", None)
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # --- endpoints ---------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health", signed=False)

    def query_agent_stats(self) -> dict[str, Any]:
        return self._json("GET", "/get_system_stats")

    # --- workspace folders: the agent owns its host's disk; the platform names a folder only ---
    def folder_create(self, name: str) -> dict[str, Any]:
        """Make the folder from the host's template unless it exists: {name, path, created}."""
        return self._json(
            "PUT", f"/api/folders/{_segment(name)}", read_timeout=settings.AGENT_ACTION_READ_TIMEOUT
        )

    def folder_delete(self, name: str, *, missing_ok: bool = False) -> bool:
        """Remove the folder; False when it was not there (with `missing_ok`, else AgentError 404)."""
        try:
            self._json(
                "DELETE", f"/api/folders/{_segment(name)}", read_timeout=settings.AGENT_ACTION_READ_TIMEOUT
            )
        except AgentError as exc:
            if missing_ok and exc.agent_status == 404:
                return False
            raise
        return True

    def folder_info(self, name: str) -> dict[str, Any]:
        """{name, path, size} of an existing folder (404 AgentError when there is none)."""
        return self._json("GET", f"/api/folders/{_segment(name)}")

    def folder_archive(self, name: str) -> FolderArchive:
        """The folder as a tar being read from the agent: its length and SHA-256 (headers) first,
        then the bytes. Close it (a context manager) when done."""
        response = self._send(
            "GET",
            f"/api/folders/{_segment(name)}/archive",
            stream=True,
            read_timeout=settings.AGENT_STREAM_READ_TIMEOUT,
        )
        digest = response.headers.get("X-Archive-SHA256", "")
        try:
            size = int(response.headers.get("Content-Length", ""))
        except ValueError:
            size = -1
        if len(digest) != 64 or size < 0:
            response.close()
            raise AgentError(
                f"Agent on {self.target.name} sent a folder archive without its length or digest.",
                status=502,
                host=self.target.name,
            )
        return FolderArchive(response=response, size=size, sha256=digest)

    def folder_unpack(self, name: str, archive: FolderArchive) -> dict[str, Any]:
        """Make the folder on this host from another agent's archive, streamed through as it is
        read; signed with the archive's digest, so this agent refuses any byte that differs."""
        return self._json_raw(
            "PUT", f"/api/folders/{_segment(name)}/archive", archive, [], body_sha256=archive.sha256
        )

    def folder_list(self) -> list[str]:
        return list(self._json("GET", "/api/folders").get("names", []))

    def list_containers(self) -> list[dict[str, Any]]:
        return self._json("GET", "/api/containers")

    def get_container(self, container: str) -> dict[str, Any]:
        return self._json("GET", f"/api/containers/{_segment(container)}")

    def create_container(self, config: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/api/containers", config, read_timeout=settings.AGENT_ACTION_READ_TIMEOUT)

    def _container_action(
        self, container: str, action: str, *, timeout: int | None = None, missing_ok: bool = False
    ) -> dict[str, Any]:
        """`missing_ok`: a container the agent does not know is what a removal wants ({} then)."""
        query = {"timeout": int(timeout)} if timeout is not None else None
        # Docker waits up to the stop timeout (10 s by default) before it kills; wait longer than that.
        read_timeout = settings.AGENT_ACTION_READ_TIMEOUT + (timeout or 0)
        try:
            return self._json(
                "POST",
                f"/api/containers/{_segment(container)}/{action}",
                {},
                query=query,
                read_timeout=read_timeout,
            )
        except AgentError as exc:
            if missing_ok and exc.agent_status == 404:
                return {}
            raise

    def start_container(self, container: str) -> dict[str, Any]:
        return self._container_action(container, "start")

    def stop_container(
        self, container: str, *, timeout: int | None = None, missing_ok: bool = False
    ) -> dict[str, Any]:
        """Stop; `timeout` is the seconds Docker waits before killing (the read timeout grows with it)."""
        return self._container_action(container, "stop", timeout=timeout, missing_ok=missing_ok)

    def restart_container(self, container: str, *, timeout: int | None = None) -> dict[str, Any]:
        return self._container_action(container, "restart", timeout=timeout)

    def delete_container(self, container: str, *, missing_ok: bool = False) -> dict[str, Any]:
        return self._container_action(container, "delete", missing_ok=missing_ok)

    def query_agent_port_info(self, container: str) -> dict[str, Any]:
        return self._json("GET", f"/api/containers/{_segment(container)}/ports")

    def container_logs(self, container: str, *, tail: int = 100, after: str = "") -> dict[str, Any]:
        """{"lines": [...], "cursor": "..."}: pass the cursor back as `after` for the lines that follow."""
        query: dict[str, Any] = {"tail": int(tail), **({"after": after} if after else {})}
        data = self._json("GET", f"/api/containers/{_segment(container)}/logs", query=query)
        return {"lines": data.get("lines", []), "cursor": data.get("cursor", "")}

    def container_stats(self, container: str) -> dict[str, Any]:
        return self._json("GET", f"/api/containers/{_segment(container)}/stats")

    def list_images(self) -> list[dict[str, Any]]:
        return self._json("GET", "/api/images")

    def get_image(self, image: str) -> dict[str, Any]:
        return self._json("GET", f"/api/images/{_segment(image)}")

    def delete_image(self, image: str, *, force: bool = False) -> dict[str, Any]:
        query = {"force": "1"} if force else None
        return self._json(
            "DELETE",
            f"/api/images/{_segment(image)}",
            query=query,
            read_timeout=settings.AGENT_ACTION_READ_TIMEOUT,
        )

    def pull_image(self, image: str, *, registry: dict[str, str] | None = None) -> dict[str, Any]:
        return self._json(
            "POST",
            "/api/images/pull",
            {"image": image, "registry": registry or {}},
            read_timeout=settings.AGENT_STREAM_READ_TIMEOUT,
        )

    def push_image(self, image: str, *, registry: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        body = json.dumps({"image": image, "registry": registry or {}}).encode()
        return self._stream_lines("POST", "/api/images/push", body=body, content_type="application/json")

    def build_image(self, *, dockerfile: str, tag: str) -> Iterator[dict[str, Any]]:
        body = json.dumps({"dockerfile": dockerfile, "tag": tag}).encode()
        return self._stream_lines("POST", "/api/images/build", body=body, content_type="application/json")

    def build_image_from_context(self, *, context_tar: bytes, tag: str) -> Iterator[dict[str, Any]]:
        body, content_type = encode_multipart_formdata(
            {"context": ("context.tar", context_tar, "application/x-tar"), "tag": tag}
        )
        return self._stream_lines("POST", "/api/images/build", body=body, content_type=content_type)

    def import_image(
        self, *, rootfs_tar: bytes, tag: str, changes: list[str] | None = None
    ) -> dict[str, Any]:
        """A root filesystem tarball becomes an image; `changes` are Dockerfile lines (CMD, ENV, …)."""
        query: list[tuple[str, str]] = [("tag", tag), *(("change", c) for c in changes or [])]
        return self._json_raw("POST", "/api/images/import", rootfs_tar, query)

    def import_image_file(
        self, *, fileobj: IO[bytes], sha256: str, tag: str, changes: list[str] | None = None
    ) -> dict[str, Any]:
        """Like `import_image`, streaming an open (possibly large) file whose SHA-256 is known."""
        query: list[tuple[str, str]] = [("tag", tag), *(("change", c) for c in changes or [])]
        return self._json_raw("POST", "/api/images/import", fileobj, query, body_sha256=sha256)

    def _json_raw(
        self,
        method: str,
        path: str,
        body: bytes | IO[bytes],
        query: list[tuple[str, str]],
        body_sha256: str | None = None,
    ) -> Any:
        response = self._send(
            method,
            path,
            query=query,
            body=body,
            content_type="application/x-tar",
            read_timeout=settings.AGENT_STREAM_READ_TIMEOUT,
            body_sha256=body_sha256,
        )
        document = response.json()
        return document.get("data", document) if isinstance(document, dict) else document


def _segment(value: str) -> str:
    """One URL path segment: ids and names never add path parts."""
    return quote(str(value), safe="")


def _data_of(response: requests.Response) -> Any:
    """The envelope's `data` of an error answer (e.g. the ports a 409 found in use), or None."""
    try:
        document = response.json()
    except ValueError:
        return None
    return document.get("data") if isinstance(document, dict) else None


def _message_of(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return (response.text or "").strip()[:200]
    if isinstance(document, dict):
        return str(document.get("message") or document.get("detail") or document.get("error") or "")
    return ""
