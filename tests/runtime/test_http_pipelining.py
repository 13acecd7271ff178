"""The HTTP/1.1 layer over real loopback sockets: keep-alive and pipelining."""

from __future__ import annotations

import select
import socket
import time

from support.server_thread import ServerThread

from .http_support import Connect, RecordingApp, ToyEndpoint, release


def test_keep_alive_serves_several_requests_on_one_connection(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    for i in range(3):
        client.request("GET", f"/page/{i}")
        response = client.read_response()
        assert response.status == 200
        assert response.body == f"GET /page/{i} ".encode()
        assert response.header("connection") is None
        assert response.header("date")


def test_http10_closes_unless_keep_alive_is_asked(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = client.read_response()
    assert response.header("connection") == "keep-alive"
    client.send(b"GET /b HTTP/1.0\r\n\r\n")
    assert client.read_response().body == b"GET /b "
    assert client.wait_closed(5)


def test_pipelined_requests_are_answered_in_order(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    wire = b""
    expected = []
    for i in range(40):
        if i % 3 == 0:
            wire += (
                f"POST /rt/{i} HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{i % 10}!".encode()
            )
            expected.append(f"endpoint POST /rt/{i} {i % 10}!".encode())
        else:
            wire += f"GET /w/{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
            expected.append(f"GET /w/{i} ".encode())
    client.send(wire)
    assert [client.read_response().body for _ in expected] == expected


def test_requests_behind_a_pending_response_wait_their_turn(
    server: ServerThread, endpoint: ToyEndpoint, app: RecordingApp, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(b"GET /rt/park HTTP/1.1\r\nHost: t\r\n\r\nGET /behind HTTP/1.1\r\nHost: t\r\n\r\n")
    assert endpoint.parked.wait(5)
    client.expect_silence(0.2)
    assert app.paths == []  # the WSGI request has not even started
    release(server, endpoint)
    assert client.read_response().body == b"endpoint GET /rt/park "
    assert client.read_response().body == b"GET /behind "


def test_a_pipelining_flood_is_not_buffered_without_bound(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    client.send(b"GET /rt/park HTTP/1.1\r\nHost: t\r\n\r\n")
    assert endpoint.parked.wait(5)
    chunk = b"GET /w HTTP/1.1\r\nHost: t\r\n\r\n" * 2000
    client.sock.setblocking(False)
    sent, stalled_since = 0, 0.0
    while sent < 64 * 2**20:
        try:
            sent += client.sock.send(chunk)
            stalled_since = 0.0
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 0.5:
                break  # the server has stopped reading
            select.select([], [client.sock], [], 0.05)
    # The server reads a bounded backlog, then stops: the rest waits in kernel buffers.
    assert sent < 24 * 2**20
