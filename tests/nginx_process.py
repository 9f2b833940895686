"""A real nginx for tests: the platform's own rendered configuration, on a loopback port.

`NginxProcess.start(prefix, backend=...)` picks a port, points PLATFORM_URL at
`http://localhost:<port>` (workspace hosts are `<user>--<app>.localhost:<port>`),
renders the standalone config with `containers.nginx.write_standalone_config` and
starts nginx. Python's resolver knows no `*.localhost`, so requests go to 127.0.0.1
with the host name in the `Host` header (`NginxProcess.get`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings as django_settings

from containers.nginx import write_standalone_config
from tests.edge_client import via
from tests.net import free_port, wait_until
from tests.services import require_binary


@dataclass
class NginxProcess:
    binary: str
    prefix: Path
    conf: Path
    port: int
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def platform_url(self) -> str:
        return f"http://localhost:{self.port}"

    def host(self, username: str, app: str) -> str:
        return f"{username}--{app}.localhost:{self.port}"

    def get(self, host: str, path: str = "/", **kwargs: Any) -> requests.Response:
        """GET `path` on `host` (a workspace host or "localhost:<port>") through this nginx."""
        return via(self.base_url, host, path, **kwargs)

    @classmethod
    def start(cls, prefix: Path, *, backend: str, settings: Any = None) -> NginxProcess:
        """`settings`: pytest-django's fixture, so PLATFORM_URL is undone after the test."""
        binary = require_binary("nginx", "nginx")
        port = free_port()
        target = settings if settings is not None else django_settings
        target.PLATFORM_URL = f"http://localhost:{port}"
        conf = write_standalone_config(prefix=prefix, listen=f"127.0.0.1:{port}", backend=backend)
        # In the foreground, so the test owns (and reaps) the master process.
        process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"])
        proc = cls(binary, prefix, conf, port, process)
        assert wait_until(lambda: (prefix / "nginx.pid").exists()), "nginx did not start"
        return proc

    def stop(self) -> None:
        self.process.terminate()  # fast shutdown: tests do not wait for idle keep-alives
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
