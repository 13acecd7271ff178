"""The HTTP/1.1 layer over real loopback sockets: dispatch to the endpoint, requests and
upgrades."""

from __future__ import annotations

import socket

import pytest

from flask_realtime.runtime.engineio.front import from_http
from flask_realtime.runtime.http.messages import Request
from support.server_thread import ServerThread
from support.waiting import wait_until

from .http_support import Connect, RecordingApp, ToyEndpoint, release


def test_the_endpoint_gets_requests_under_its_path(
    server: ServerThread, endpoint: ToyEndpoint, app: RecordingApp, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(
        b"POST /rt/a%20b?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\nX-Rep: 1\r\n"
        b"x-rep: 2\r\nContent-Length: 3\r\n\r\nabc"
    )
    assert client.read_response().body == b"endpoint POST /rt/a%20b abc"
    client.request("GET", "/elsewhere")
    assert client.read_response().body == b"GET /elsewhere "
    [request] = endpoint.requests
    assert request.method == "POST"
    assert request.path == "/rt/a%20b"  # raw, not percent-decoded
    assert request.query_string == "EIO=4&transport=polling"
    assert request.headers[:3] == [("host", "t"), ("x-rep", "1"), ("x-rep", "2")]
    assert request.header("x-rep") == "1, 2"
    assert request.header("missing", "d") == "d"
    assert request.body == b"abc"
    assert request.remote_addr == client.sock.getsockname()[:2]
    assert (request.scheme, request.http_version, request.keep_alive) == ("http", "1.1", True)
    assert app.paths == ["/elsewhere"]


def test_an_endpoint_error_gets_500(
    server: ServerThread, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = http_client(server.port)
    client.request("GET", "/rt/boom")
    assert client.read_response().status == 500
    assert client.wait_closed(5)
    assert "error in the endpoint" in caplog.text


def test_a_client_that_hangs_up_cancels_its_parked_request(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.request("GET", "/rt/park")
    assert endpoint.parked.wait(5)
    client.sock.shutdown(socket.SHUT_WR)
    assert endpoint.cancelled.wait(5)
    assert client.wait_closed(5)


def test_an_answer_ready_at_once_is_written_without_a_task(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    client = http_client(server.port)
    for path in ("/rt/a", "/rt/b"):
        client.request("GET", path)
        assert client.read_response().body == f"endpoint GET {path} ".encode()
    assert endpoint.tasks == [None, None]  # handle() ran in the parser's callback


def test_an_endpoint_that_raises_at_once_gets_500(
    server: ServerThread, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    client = http_client(server.port)
    client.request("GET", "/rt/now-boom")
    assert client.read_response().status == 500
    assert client.wait_closed(5)
    assert "error in the endpoint" in caplog.text


def test_a_client_that_hangs_up_cancels_the_future_its_request_parked_on(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    # Parked before any task ran: the task may be cancelled before its first step, when
    # it has not awaited the future yet; the future is cancelled all the same.
    client = http_client(server.port)
    client.request("GET", "/rt/future")
    assert endpoint.parked.wait(5)
    client.sock.shutdown(socket.SHUT_WR)
    assert endpoint.cancelled.wait(5)
    assert client.wait_closed(5)


def test_websocket_upgrade_hands_the_connection_over_with_the_bytes_read_past_it(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(
        b"GET /rt/ws?EIO=4 HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"\r\nleftover"
    )
    response = client.read_response(head=True)
    assert response.status == 101
    [protocol] = endpoint.protocols
    assert client.read_bytes(8) == b"leftover"  # echoed by the new protocol
    client.send(b"more")
    assert client.read_bytes(4) == b"more"
    assert bytes(protocol.received) == b"leftovermore"
    assert server.server.connection_count == 1  # still counted once upgraded
    client.close()
    assert protocol.lost.wait(5)
    wait_until(lambda: server.server.connection_count == 0, what="no connection")


def test_an_upgrade_behind_a_pending_response_waits_and_keeps_every_byte(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(
        b"GET /rt/park HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /rt/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    assert endpoint.parked.wait(5)
    client.send(b"early")  # an optimistic client: bytes for the new protocol, sent at once
    client.expect_silence(0.1)
    assert endpoint.protocols == []  # no upgrade before the response ahead of it
    release(server, endpoint)
    assert client.read_response().body == b"endpoint GET /rt/park "
    assert client.read_response(head=True).status == 101
    assert client.read_bytes(5) == b"early"


def test_a_refused_upgrade_is_answered_and_the_connection_goes_on(
    server: ServerThread, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(
        b"GET /rt/refuse HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"\r\nGET /w/next HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    response = client.read_response()
    assert (response.status, response.body) == (403, b"refused")
    assert client.read_response().body == b"GET /w/next "
    assert endpoint.protocols == []


def test_an_upgrade_elsewhere_is_served_as_plain_http(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(
        b"GET /w/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"GET /w/then HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    assert client.read_response().body == b"GET /w/ws "
    assert client.read_response().body == b"GET /w/then "


def test_the_engine_sees_repeated_request_fields_merged_and_single_ones_as_sent() -> None:
    """``from_http`` takes the fields as they are when no name repeats (no merge to do),
    and merges them by the one header rule when one does."""
    fields = [("host", "h"), ("cookie", "a=1"), ("accept", "x"), ("cookie", "b=2"), ("accept", "y")]
    single = Request("GET", "/socket.io/", "", fields[:3], b"", None, "http", "1.1", True)
    repeated = Request("GET", "/socket.io/", "", fields, b"", None, "http", "1.1", True)
    assert from_http(single).headers == {"host": "h", "cookie": "a=1", "accept": "x"}
    assert from_http(repeated).headers == {"host": "h", "cookie": "a=1; b=2", "accept": "x, y"}
