"""Raw HTTP on a connection known to be served by one worker process, for the routing tests.

Every worker of ``socketio.run(app, workers=N)`` accepts from one listening socket, so a
test cannot choose the worker; it can find out which one it got. :func:`connection_not_to`
opens connections until one is accepted by a worker other than the given pid (asked with
``GET /pid``, which the worker answers itself on that keep-alive connection), and the
requests that follow on it reach that worker for sure: a request for a session owned
elsewhere lands on a non-owner, deterministically.
"""

from __future__ import annotations

import socket
import ssl

import pytest

__all__ = ["HttpConnection", "connection_not_to"]


class HttpConnection:
    """One keep-alive HTTP/1.1 connection with a blocking request/response."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.port = port
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = (
            sock if context is None else context.wrap_socket(sock, server_hostname="127.0.0.1")
        )
        self._buffer = b""

    def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send a request and read its response (Content-Length framed): status, body."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.read_response()

    def read_response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self._buffer:
            self._recv()
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            self._buffer = rest
            self._recv()
            rest = self._buffer
        self._buffer = rest[length:]
        return status, rest[:length]

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        self.sock.close()


def connection_not_to(
    port: int, pid: int, attempts: int = 200, context: ssl.SSLContext | None = None
) -> tuple[HttpConnection, int]:
    """A connection (over TLS with ``context``) served by a worker other than ``pid``, and
    that worker's pid."""
    for _ in range(attempts):
        conn = HttpConnection(port, context)
        status, body = conn.request("GET", "/pid")
        assert status == 200
        if int(body) != pid:
            return conn, int(body)
        conn.close()
    pytest.fail(f"{attempts} connections all went to worker pid {pid}")
