"""Guards for tests that need a real service (dockerd, nginx, a registry, sshd).

On a developer machine a missing service skips the test with the reason; under
CI=true it fails, because CI must have installed and started everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(ok: bool, what: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available (CI would fail here)")


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    require(path is not None, f"{name} (Debian package {package})")
    return path or ""


def require_docker() -> None:
    ok = subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    require(ok, "a running Docker Engine (scripts/start-dockerd.sh)")
