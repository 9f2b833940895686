"""A small HTTP server on a loopback port that speaks the agent's protocol.

It verifies signatures with the agent's own signing module and can be told to
misbehave in ways the real agent never does (answer slowly, redirect, fail),
so that the client's handling of those cases runs over a real socket. Tests
of the normal path use real agent processes as well.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.hostagent.signing import SignatureError, verify

STATS = {
    "cpu": {"count": 8, "percent": 12.5, "load": [0.5, 0.4, 0.3]},
    "memory": {"total": 16 * 2**30, "used": 4 * 2**30},
    "disk": {"workspace": {"total": 100 * 2**30, "used": 25 * 2**30}, "docker": {"total": 50, "used": 5}},
    "gpus": [],
    "containers": {"running": 2, "total": 3},
    "docker_version": "26.1.5",
}


@dataclass
class Behaviour:
    delay: float = 0.0
    status: int = 200
    redirect_to: str = ""
    message: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    nonces: set[str] = field(default_factory=set)
    drop_first_connection: int = 0  # close the socket without answering this many times


class StubAgent:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.behaviour = Behaviour()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                b = stub.behaviour
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                b.seen.append((self.command, self.path))
                if b.drop_first_connection > 0:
                    b.drop_first_connection -= 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if b.delay:
                    time.sleep(b.delay)
                if self.path != "/health":
                    try:
                        nonce, _ = verify(stub.secret, self.command, self.path, body, dict(self.headers))
                    except SignatureError as exc:
                        return self._answer(401, {"success": False, "message": str(exc), "data": None})
                    if nonce in b.nonces:
                        return self._answer(401, {"success": False, "message": "Replayed.", "data": None})
                    b.nonces.add(nonce)
                if b.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", b.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if b.status >= 400:
                    return self._answer(b.status, {"success": False, "message": b.message, "data": None})
                if self.path == "/get_system_stats":
                    return self._answer(200, {"success": True, "message": "OK.", "data": STATS})
                if self.path == "/health":
                    return self._answer(200, {"success": True, "message": "OK.", "data": {"status": "ok"}})
                return self._answer(200, {"success": True, "message": "OK.", "data": {"echo": self.path}})

            def _answer(self, status: int, document: dict) -> None:
                raw = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *args: None  # a client that gave up is not an error here
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StubAgent:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
