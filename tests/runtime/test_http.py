"""The HTTP/1.1 layer over real loopback sockets: keep-alive, pipelining, bodies, limits,
timeouts, malformed input, and dispatch to the endpoint (requests and upgrades) or WSGI."""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from flask_realtime.runtime.http import Request, Response
from flask_realtime.runtime.limits import Limits
from flask_realtime.runtime.thread import ServerThread

from .httpkit import RawHttpClient

Serve = Callable[..., ServerThread]
Connect = Callable[..., RawHttpClient]


# -- a tiny WSGI app and a tiny endpoint ---------------------------------------------------


class RecordingApp:
    """Answers ``<METHOD> <PATH_INFO> <body>``; remembers the paths it served."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read()
        self.paths.append(environ["PATH_INFO"])
        data = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} ".encode() + body
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
        )
        return [data]


class EchoProtocol(asyncio.Protocol):
    """Takes a connection over after an upgrade and echoes every byte."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.lost = threading.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


class ToyEndpoint:
    """Serves ``/rt/...``: echoes bodies, parks ``/rt/park``, upgrades to ``EchoProtocol``."""

    max_body_size = 64

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.protocols: list[EchoProtocol] = []
        self.parked = threading.Event()
        self.cancelled = threading.Event()
        self.release: asyncio.Event | None = None

    def matches(self, path: str) -> bool:
        return path.startswith("/rt/")

    async def handle(self, request: Request) -> Response:
        self.requests.append(request)
        if request.path == "/rt/park":
            self.release = asyncio.Event()
            self.parked.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if request.path == "/rt/boom":
            raise RuntimeError("boom")
        body = f"endpoint {request.method} {request.path} ".encode() + request.body
        return Response(200, [("Content-Type", "text/plain")], body)

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | Response:
        self.requests.append(request)
        if request.path == "/rt/refuse":
            return Response(403, [("Content-Type", "text/plain")], b"refused")
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        protocol = EchoProtocol()
        self.protocols.append(protocol)
        return protocol

    async def shutdown(self) -> None:
        if self.release is not None:  # as the real endpoint answers its parked polls
            self.release.set()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def endpoint() -> ToyEndpoint:
    return ToyEndpoint()


@pytest.fixture
def server(http_server: Serve, app: RecordingApp, endpoint: ToyEndpoint) -> ServerThread:
    return http_server(wsgi_app=app, endpoint=endpoint)


def release(server: ServerThread, endpoint: ToyEndpoint) -> None:
    assert endpoint.parked.wait(5)
    assert endpoint.release is not None
    server.loop.call_soon_threadsafe(endpoint.release.set)


# -- keep-alive and pipelining -------------------------------------------------------------


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


# -- bodies ------------------------------------------------------------------------------------


def test_chunked_request_bodies_reach_wsgi_and_endpoint(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    for target, expected in (("/w/up", b"POST /w/up "), ("/rt/up", b"endpoint POST /rt/up ")):
        client.send(
            f"POST {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n"
        )
        assert client.read_response().body == expected + b"hello world"


def test_head_response_has_headers_but_no_body(server: ServerThread, http_client: Connect) -> None:
    client = http_client(server.port)
    for target in ("/w/h", "/rt/h"):
        client.request("HEAD", target)
        response = client.read_response(head=True)
        assert response.status == 200
        assert int(response.header("content-length") or 0) > 0
    client.request("GET", "/w/after")  # nothing stray was left on the wire
    assert client.read_response().body == b"GET /w/after "


@pytest.mark.parametrize("target", ["/w/cont", "/rt/cont"])
def test_expect_100_continue_is_answered_before_the_body(
    server: ServerThread, http_client: Connect, target: str
) -> None:
    client = http_client(server.port)
    client.send(
        f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    assert client.read_response().status == 100
    client.send(b"data")
    response = client.read_response()
    assert response.status == 200
    assert response.body.endswith(b" data")


# -- limits --------------------------------------------------------------------------------


@pytest.fixture
def strict(http_server: Serve, app: RecordingApp, endpoint: ToyEndpoint) -> ServerThread:
    limits = Limits(max_url_size=64, max_header_size=512, max_header_count=8, max_body_size=1000)
    return http_server(wsgi_app=app, endpoint=endpoint, limits=limits)


def refused(client: RawHttpClient, wire: bytes | Iterable[bytes]) -> int:
    """Send ``wire`` (pieces sent one by one), return the status; the server must close."""
    for piece in [wire] if isinstance(wire, bytes) else wire:
        try:
            client.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
    response = client.read_response()
    assert response.header("content-type") == "application/json"
    assert client.wait_closed(5)
    return response.status


def test_long_url_gets_414(strict: ServerThread, http_client: Connect) -> None:
    wire = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    assert refused(http_client(strict.port), wire) == 414


def test_large_headers_get_431(strict: ServerThread, http_client: Connect) -> None:
    wire = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 600 + b"\r\n\r\n"
    assert refused(http_client(strict.port), wire) == 431


def test_too_many_headers_get_431(strict: ServerThread, http_client: Connect) -> None:
    wire = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(9))
    assert refused(http_client(strict.port), wire + b"\r\n") == 431


def test_an_endless_header_value_trickled_in_is_cut_off(
    strict: ServerThread, http_client: Connect
) -> None:
    # httptools reports a field only once it ends: this one never does. Trickle it in
    # until the server answers (the limit is 512 bytes; 200 pieces would be 20 KB).
    client = http_client(strict.port)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
    for _ in range(200):
        client.send(b"x" * 100)
        if select.select([client.sock], [], [], 0.02)[0]:
            break
    assert refused(client, b"") == 431


def test_body_over_the_limit_gets_413_without_running_the_app(
    strict: ServerThread, app: RecordingApp, http_client: Connect
) -> None:
    wire = b"POST /w HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001
    assert refused(http_client(strict.port), wire) == 413
    assert app.paths == []


def test_chunked_body_over_the_limit_gets_413(strict: ServerThread, http_client: Connect) -> None:
    head = b"POST /w HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = (b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(5))
    assert refused(http_client(strict.port), [head, *chunks]) == 413


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_endpoint_body_over_its_own_limit_gets_413(
    strict: ServerThread, endpoint: ToyEndpoint, http_client: Connect, framing: str
) -> None:
    body = b"z" * (endpoint.max_body_size + 1)
    if framing == "length":
        wire = b"POST /rt/x HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n" + body
    else:
        wire = b"POST /rt/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n"
        wire += body + b"\r\n0\r\n\r\n"
    assert refused(http_client(strict.port), wire) == 413
    assert endpoint.requests == []


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nbad header line\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST /w HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 405),
    ],
    ids=[
        "garbage",
        "bad-field",
        "no-host",
        "http2",
        "length-and-chunked",
        "gzip",
        "bad-chunk",
        "connect",
    ],
)
def test_malformed_requests_get_an_error_and_the_connection_closes(
    server: ServerThread, http_client: Connect, wire: bytes, status: int
) -> None:
    assert refused(http_client(server.port), wire) == status


def test_an_error_after_good_requests_is_answered_in_turn(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    client.send(b"GET /w/ok HTTP/1.1\r\nHost: t\r\n\r\nGARBAGE\r\n\r\n")
    assert client.read_response().body == b"GET /w/ok "
    assert client.read_response().status == 400
    assert client.wait_closed(5)


def test_connections_past_the_limit_get_503(
    http_server: Serve, app: RecordingApp, http_client: Connect
) -> None:
    server = http_server(wsgi_app=app, limits=Limits(max_connections=2))
    first, second = http_client(server.port), http_client(server.port)
    for client in (first, second):  # both accepted and registered
        client.request("GET", "/")
        assert client.read_response().status == 200
    third = http_client(server.port)
    assert third.read_response().status == 503
    assert third.wait_closed(5)
    first.close()
    wait_for(lambda: server.server.connection_count == 1)
    fourth = http_client(server.port)
    fourth.request("GET", "/again")
    assert fourth.read_response().status == 200


# -- timeouts ----------------------------------------------------------------------------------


def test_headers_sent_too_slowly_time_out_with_408(
    http_server: Serve, app: RecordingApp, http_client: Connect
) -> None:
    limits = Limits(header_timeout=0.3, keep_alive_timeout=30)
    server = http_server(wsgi_app=app, limits=limits)
    client = http_client(server.port)
    started = time.monotonic()
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow:")
    response = client.read_response(timeout=5)
    assert response.status == 408
    assert client.wait_closed(5)
    assert 0.25 < time.monotonic() - started < 3


def test_an_idle_keep_alive_connection_is_closed(
    http_server: Serve, app: RecordingApp, http_client: Connect
) -> None:
    server = http_server(wsgi_app=app, limits=Limits(keep_alive_timeout=0.3))
    client = http_client(server.port)
    client.request("GET", "/")
    assert client.read_response().status == 200
    started = time.monotonic()
    assert client.read_until_closed(5) == b""  # closed silently
    assert 0.25 < time.monotonic() - started < 3


# -- the endpoint ------------------------------------------------------------------------------


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
    wait_for(lambda: server.server.connection_count == 0)


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


# -- access log --------------------------------------------------------------------------------


def test_each_request_gets_an_access_log_line(
    server: ServerThread, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_realtime.access")
    client = http_client(server.port)
    client.request("GET", "/w/logged?q=1")
    client.read_response()
    wait_for(lambda: '"GET /w/logged?q=1 HTTP/1.1" 200 ' in caplog.text)
    record = next(r for r in caplog.records if r.name == "flask_realtime.access")
    assert record.levelno == logging.INFO


def test_no_access_log_when_disabled(
    http_server: Serve, app: RecordingApp, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_realtime.access")
    server = http_server(wsgi_app=app, log=False)
    client = http_client(server.port)
    client.request("GET", "/quiet")
    assert client.read_response().status == 200
    assert not [r for r in caplog.records if r.name == "flask_realtime.access"]
