"""The HTTP side of the sandbox: the threaded loopback server, its request handler, and ``Response``.

The handler sends ``POST /v2`` to ``SandboxServer.handle_graphql`` (``None``: the connection is cut
without an answer) and ``/sandbox/*`` to ``handle_control``; it writes the answer, with the rate-limit
headers on every ``/v2`` answer.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import SandboxServer

log = logging.getLogger(__name__)


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json; charset=utf-8"
    close: bool = False


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    sandbox: SandboxServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (it timed out, or a test cut it) is routine, not a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("sandbox: client %s went away: %s", client_address, exc)
        else:
            log.exception("sandbox: request from %s failed", client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def cut_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "monday-sandbox"
    sys_version = ""
    timeout = 300
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox %s - %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        sandbox = self.server.sandbox
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers,
        ]
        if self.path.split("?")[0].rstrip("/") == "/v2":
            names = {h[0].lower() for h in headers}
            headers += [h for h in sandbox._rate_headers() if h[0].lower() not in names]
        if response.close:
            self.close_connection = True
        head = [
            f"{self.protocol_version} {response.status} {HTTPStatus(response.status).phrase}\r\n",
            f"Server: {self.server_version}\r\n",
            f"Date: {self.date_time_string()}\r\n",
        ]
        head += [f"{name}: {value}\r\n" for name, value in headers]
        if self.close_connection:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        self.wfile.write("".join(head).encode("latin-1") + response.body)
        self.log_request(response.status, len(response.body))

    def do_POST(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        body = self._body()
        sandbox = self.server.sandbox
        if path == "/v2":
            response = sandbox.handle_graphql(self.headers, body)
            if response is None:  # the "drop" fault: applied, and no answer at all
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self._send(response)
        elif path.startswith("/sandbox/"):
            self._send(sandbox.handle_control("POST", path, body))
        else:
            self._send(Response(404, json_bytes({"error": f"no such endpoint: POST {path}"})))

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path.startswith("/sandbox/"):
            self._send(self.server.sandbox.handle_control("GET", path, b""))
        elif path == "/v2":
            self._send(
                Response(
                    405,
                    json_bytes(
                        {
                            "errors": [
                                {
                                    "message": "Use POST with a JSON body",
                                    "extensions": {"code": "BadRequest", "status_code": 405},
                                }
                            ]
                        }
                    ),
                    [("Allow", "POST")],
                )
            )
        else:
            self._send(Response(404, json_bytes({"error": f"no such endpoint: GET {path}"})))
