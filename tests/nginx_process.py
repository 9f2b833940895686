"""A real nginx for tests: the platform's own rendered configuration, on a loopback port.

`NginxProcess.start(prefix, backend=...)` renders the standalone config with
`containers.nginx.write_standalone_config`, starts nginx and returns an object
with the test and reload commands that the route code must use.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from containers.nginx import write_standalone_config
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
    def test_command(self) -> str:
        return f"{self.binary} -p {self.prefix} -c {self.conf} -t -q"

    @property
    def reload_command(self) -> str:
        return f"{self.binary} -p {self.prefix} -c {self.conf} -s reload"

    @classmethod
    def start(cls, prefix: Path, *, backend: str) -> NginxProcess:
        binary = require_binary("nginx", "nginx")
        port = free_port()
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
