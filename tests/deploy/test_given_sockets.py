"""``Server(sockets=...)``: serving listening sockets that a process manager made."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.runtime.http.server import Server
from support.server_thread import ServerThread

pytestmark = pytest.mark.timeout(30)


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello {environ['SERVER_PORT']}".encode()]


def listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def test_serves_every_given_socket_and_counts_requests() -> None:
    first, second = listening(), listening()
    ports = [first.getsockname()[1], second.getsockname()[1]]
    server = Server(wsgi_app=hello_app, host="127.0.0.1", port=0, sockets=[first, second])
    try:
        with ServerThread(server) as running:
            assert running.server.port == ports[0]  # read from the first socket
            assert len(server.sockets) == 2
            for port in ports:
                response = get(port)
                assert response.startswith(b"HTTP/1.1 200")
                assert response.endswith(f"hello {ports[0]}".encode())
            get(ports[1])
            assert server.requests_served == 3
        assert server.requests_served == 0  # stopped
        for port in ports:  # both listeners closed at stop
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        first.close()
        second.close()
