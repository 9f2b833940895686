"""A TCP proxy in front of the Docker socket that counts what reaches the Docker Engine.

The agent under test gets `AGENT_DOCKER_HOST=tcp://127.0.0.1:<port>`; a test
then proves that a refused request made no Docker call at all.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

_REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|DELETE|HEAD|PATCH) (/\S*) HTTP/1\.[01]\r\n")


class CountingDockerProxy:
    def __init__(self, docker_socket: str = "/var/run/docker.sock") -> None:
        self.docker_socket = docker_socket
        self.requests: list[str] = []
        self.bytes_to_docker = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return len(self.requests), self.bytes_to_docker

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.docker_socket)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, to_docker: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if to_docker:
                    with self._lock:
                        self.bytes_to_docker += len(chunk)
                        self.requests.extend(m.decode() for m in _REQUEST_LINE.findall(chunk))
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped.set()
        self._server.close()
