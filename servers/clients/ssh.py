"""SSH to a Docker host for operator actions, on paramiko, with a pinned host key.

The host key is checked against the server's pinned fingerprint
(`SHA256:<base64>`, as `ssh-keygen -lf` prints it) before any credential is
sent; there is no AutoAddPolicy and no known_hosts file. A different key
refuses the connection with `HostKeyMismatch`. Commands run with a timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import socket
import time
from dataclasses import dataclass

import paramiko

from mgmt.exceptions import ApplicationError, UpstreamUnavailable


class SSHUnavailable(UpstreamUnavailable):
    """The host's SSH server could not be reached or did not finish the handshake."""


class HostKeyMismatch(ApplicationError):
    """The host presented a key other than the pinned one: possible interception, never connect."""

    status_code = 409


class SSHAuthFailed(ApplicationError):
    status_code = 409


class SSHCommandTimeout(SSHUnavailable):
    pass


@dataclass(frozen=True)
class SSHTarget:
    name: str
    host: str
    port: int
    user: str
    fingerprint: str  # "" only when asking for the key to pin it
    private_key: str = ""
    password: str = ""


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    elapsed_ms: int


def fingerprint_of(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _load_private_key(text: str) -> paramiko.PKey:
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SSHAuthFailed("The stored SSH private key cannot be read (unsupported type or passphrase).")


class SSHSession:
    """One authenticated connection; use as a context manager."""

    def __init__(self, target: SSHTarget, *, connect_timeout: float) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.transport: paramiko.Transport | None = None

    def __enter__(self) -> SSHSession:
        self.transport = _open_transport(self.target, self.connect_timeout)
        try:
            _check_host_key(self.transport, self.target)
            self._authenticate()
        except BaseException:
            self.transport.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.transport is not None:
            self.transport.close()

    def _authenticate(self) -> None:
        assert self.transport is not None
        target = self.target
        try:
            if target.private_key:
                self.transport.auth_publickey(target.user, _load_private_key(target.private_key))
            elif target.password:
                self.transport.auth_password(target.user, target.password)
            else:
                raise SSHAuthFailed(f"No SSH key or password is stored for {target.name}.")
        except paramiko.AuthenticationException as exc:
            raise SSHAuthFailed(f"SSH login as {target.user!r} on {target.name} was refused.") from exc
        except paramiko.SSHException as exc:
            raise SSHUnavailable(f"SSH to {target.name} failed during login: {exc}") from exc

    def run(self, command: str, *, timeout: float) -> CommandResult:
        """Run one command; stdout/stderr are kept up to 64 KiB each."""
        assert self.transport is not None
        started = time.monotonic()
        try:
            channel = self.transport.open_session(timeout=self.connect_timeout)
        except paramiko.SSHException as exc:
            raise SSHUnavailable(f"SSH to {self.target.name}: cannot open a session ({exc}).") from exc
        with channel:
            channel.settimeout(1.0)
            channel.exec_command(command)
            out, err = bytearray(), bytearray()
            deadline = started + timeout
            while True:
                if channel.recv_ready():
                    out += channel.recv(32768)
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(32768)
                if (
                    channel.exit_status_ready()
                    and not channel.recv_ready()
                    and not channel.recv_stderr_ready()
                ):
                    break
                if time.monotonic() > deadline:
                    raise SSHCommandTimeout(
                        f"The command on {self.target.name} did not finish within {timeout:g}s."
                    )
                time.sleep(0.01)
            status = channel.recv_exit_status()
        limit = 65536
        return CommandResult(
            status,
            bytes(out[:limit]).decode(errors="replace"),
            bytes(err[:limit]).decode(errors="replace"),
            int((time.monotonic() - started) * 1000),
        )


def _open_transport(target: SSHTarget, timeout: float) -> paramiko.Transport:
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise SSHUnavailable(f"SSH on {target.name} ({target.host}:{target.port}) is unreachable.") from exc
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        transport.close()
        raise SSHUnavailable(f"SSH handshake with {target.name} failed: {exc}") from exc
    return transport


def _check_host_key(transport: paramiko.Transport, target: SSHTarget) -> None:
    presented = fingerprint_of(transport.get_remote_server_key())
    if not target.fingerprint:
        raise HostKeyMismatch(
            f"No host key is pinned for {target.name}; pin it first (it presented {presented})."
        )
    if not hmac.compare_digest(presented.encode(), target.fingerprint.strip().encode()):
        raise HostKeyMismatch(
            f"The SSH host key of {target.name} changed: pinned {target.fingerprint}, "
            f"presented {presented}. Refusing to connect; verify the host and re-pin the key."
        )


def fetch_host_key_fingerprint(target: SSHTarget, *, timeout: float) -> str:
    """The fingerprint the host presents now (for an operator to pin after checking it)."""
    transport = _open_transport(target, timeout)
    try:
        return fingerprint_of(transport.get_remote_server_key())
    finally:
        transport.close()
