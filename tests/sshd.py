"""A real OpenSSH server on a free loopback port, for tests of the SSH service.

Generated host and user keys, a temporary sshd_config (no PAM, no strict
modes, pid file and authorized keys in the temp dir). `sshd_server()` is a
context manager yielding what a test needs; the process is stopped after.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.net import free_port
from tests.services import require, require_binary


@dataclass
class SSHD:
    port: int
    user: str
    user_key: str  # OpenSSH private key text
    host_key_path: Path
    fingerprint: str  # SHA256:… of the host key
    directory: Path


def keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)


def fingerprint(public_key_path: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def _wait_for_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            if s.recv(4).startswith(b"SSH"):
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def sshd_server(host_key_path: Path | None = None) -> Iterator[SSHD]:
    sshd = require_binary("sshd", "openssh-server")
    require_binary("ssh-keygen", "openssh-client")
    try:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    except OSError as exc:
        require(False, f"/run/sshd for sshd ({exc})")
    with tempfile.TemporaryDirectory(prefix="test-sshd-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o755)
        if host_key_path is None:
            host_key_path = directory / "host_ed25519"
            keygen(host_key_path)
        user_key = directory / "user_ed25519"
        keygen(user_key)
        authorized = directory / "authorized_keys"
        authorized.write_text((directory / "user_ed25519.pub").read_text())
        port = free_port()
        config = directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key_path}",
                    f"PidFile {directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        process = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            if not _wait_for_port(port):
                process.terminate()
                _, err = process.communicate(timeout=5)
                require(False, f"sshd on 127.0.0.1:{port} ({err.decode(errors='replace')[:300]})")
            yield SSHD(
                port=port,
                user=getpass.getuser(),
                user_key=user_key.read_text(),
                host_key_path=host_key_path,
                fingerprint=fingerprint(Path(str(host_key_path) + ".pub")),
                directory=directory,
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
