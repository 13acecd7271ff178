"""The HTTP/1.1 layer over real loopback sockets: limits, malformed input, timeouts."""

from __future__ import annotations

import select
import time
from collections.abc import Iterable

import pytest

from flask_realtime.runtime.http.limits import Limits
from support.server_thread import ServerThread
from support.waiting import wait_until

from .http_support import Connect, RecordingApp, Serve, ToyEndpoint
from .httpkit import RawHttpClient


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
    assert response.header("x-content-type-options") == "nosniff"
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
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # RFC 9112 section 3.2
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
        "two-hosts",
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
    wait_until(lambda: server.server.connection_count == 1, what="one connection")
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


def test_a_response_slower_than_every_timeout_keeps_its_connection(
    http_server: Serve, http_client: Connect
) -> None:
    """Waiting for the app has no deadline. The connection does not cancel the deadline of
    the state it leaves (the keep-alive after the first response, the body's rate window
    of the POST): one that fires while the app works must find the exchange and do
    nothing."""

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        body: bytes = environ["wsgi.input"].read()  # type: ignore[attr-defined]
        if environ["PATH_INFO"] == "/slow":
            time.sleep(1.0)  # the app is busy past every timeout below
        start_response("200 OK", [("Content-Length", str(len(body)))])  # type: ignore[operator]
        return [body]

    limits = Limits(
        keep_alive_timeout=0.3, header_timeout=0.3, body_rate_window=0.2, min_body_rate=10_000
    )
    server = http_server(wsgi_app=app, limits=limits)
    client = http_client(server.port)
    client.request("GET", "/")
    assert client.read_response().status == 200
    client.request("GET", "/slow")  # the keep-alive deadline is left behind
    assert client.read_response(timeout=10).status == 200
    client.send(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
    wait_until(lambda: server.server.requests_served == 3, 5, "the head to be read")
    client.send(b"body")  # after the head: the body's rate window is left behind
    response = client.read_response(timeout=10)
    assert (response.status, response.body) == (200, b"body")
    client.request("GET", "/")  # the same connection, still open
    assert client.read_response().status == 200


# -- request bodies: a minimum rate and a whole-request deadline ---------------------------


def trickle(client: RawHttpClient, head: bytes, *, every: float = 0.05, limit: float = 5) -> bytes:
    """Send ``head``, then one body byte each ``every`` s until the server answers (or
    ``limit`` s pass); what it answered, up to its close."""
    client.send(head)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([client.sock], [], [], every)
        if ready:
            return client.read_until_closed(5)
        try:
            client.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            break
    return client.read_until_closed(5)


SLOW = Limits(body_rate_window=0.3, min_body_rate=100)  # 30 bytes per 0.3 s at least


@pytest.mark.parametrize("path", ["/rt/echo", "/wsgi"])
def test_a_body_that_never_comes_gets_408(
    http_server: Serve, app: RecordingApp, endpoint: ToyEndpoint, http_client: Connect, path: str
) -> None:
    server = http_server(wsgi_app=app, endpoint=endpoint, limits=SLOW)
    client = http_client(server.port)
    client.send(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n".encode())
    response = client.read_response(timeout=5)
    assert response.status == 408
    assert response.header("content-type") == "application/json"
    assert client.wait_closed(5)


@pytest.mark.parametrize("path", ["/rt/echo", "/wsgi"])
def test_a_body_trickled_below_the_minimum_rate_gets_408(
    http_server: Serve, endpoint: ToyEndpoint, http_client: Connect, path: str
) -> None:
    errors: list[BaseException] = []

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        try:
            environ["wsgi.input"].read()  # type: ignore[attr-defined]
        except Exception as exc:  # the worker thread is let go
            errors.append(exc)
            raise
        raise AssertionError("the body was not complete")

    server = http_server(wsgi_app=app, endpoint=endpoint, limits=SLOW)
    client = http_client(server.port)
    # 20 bytes/s, under the 100 of the limit; the I/O timeout alone never fires (each
    # byte restarts it).
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 60\r\n\r\n".encode()
    answer = trickle(client, head)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    if path == "/wsgi":
        wait_until(lambda: errors, 5, "the app's read to give up")


def test_a_request_that_takes_too_long_in_all_gets_408(
    http_server: Serve, endpoint: ToyEndpoint, http_client: Connect
) -> None:
    limits = Limits(request_timeout=0.5, body_rate_window=0.2, min_body_rate=1)
    server = http_server(wsgi_app=None, endpoint=endpoint, limits=limits)
    client = http_client(server.port)
    head = b"POST /rt/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 60\r\n\r\n"
    answer = trickle(client, head)  # fast enough for the rate, but never done in time
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert b"request timed out" in answer


def test_a_body_the_app_holds_back_is_not_too_slow(
    http_server: Serve, http_client: Connect
) -> None:
    """Reading paused because the app does not read yet: that time is not the client's."""

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        time.sleep(1.0)  # the app is busy for three rate windows before it reads
        body: bytes = environ["wsgi.input"].read()  # type: ignore[attr-defined]
        start_response("200 OK", [("Content-Length", str(len(body)))])  # type: ignore[operator]
        return [body]

    limits = Limits(body_rate_window=0.3, min_body_rate=100_000, body_buffer_size=1024)
    server = http_server(wsgi_app=app, limits=limits)
    client = http_client(server.port)
    client.request("POST", "/", body=b"b" * 64 * 1024)
    response = client.read_response(timeout=10)
    assert response.status == 200
    assert len(response.body) == 64 * 1024


# -- closing with unread input: the client reads the answer, not a reset -------------------


def sent_then_answered(client: RawHttpClient, wire: bytes) -> int:
    """Send all of ``wire`` at once, as a client that reads only once its request is out
    (curl, most HTTP libraries); return the status then read. A server that closes with
    the client's input unread makes the kernel reset the connection: the send fails and
    the answer is lost."""
    client.send(wire)  # a reset raises ConnectionResetError or BrokenPipeError here
    status = client.read_response().status
    assert client.wait_closed(5)
    return status


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"POST /w HTTP/1.1\r\nHost: t\r\nContent-Length: 4000000\r\n\r\n" + b"u" * 4_000_000, 413),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 4_000_000 + b"\r\n\r\n", 431),
    ],
    ids=["413-upload", "431-header"],
)
def test_a_refusal_with_input_unread_reaches_the_client(
    strict: ServerThread, http_client: Connect, wire: bytes, status: int
) -> None:
    assert sent_then_answered(http_client(strict.port), wire) == status


def test_503_past_the_connection_limit_reaches_a_client_still_sending(
    http_server: Serve, app: RecordingApp, http_client: Connect
) -> None:
    full = http_server(wsgi_app=app, limits=Limits(max_connections=1))
    first = http_client(full.port)
    first.request("GET", "/")
    assert first.read_response().status == 200  # it holds the one connection
    wire = b"POST /w HTTP/1.1\r\nHost: t\r\nContent-Length: 8000000\r\n\r\n" + b"u" * 8_000_000
    assert sent_then_answered(http_client(full.port), wire) == 503


def test_a_client_that_never_stops_sending_is_cut_off_after_the_linger(
    http_server: Serve, app: RecordingApp, http_client: Connect
) -> None:
    limits = Limits(max_header_size=512, linger_timeout=0.5)
    server = http_server(wsgi_app=app, limits=limits)
    client = http_client(server.port)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 1024 + b"\r\n\r\n")
    assert client.read_response().status == 431
    start = time.monotonic()
    assert sends_until_reset(client, 5.0), "the server read for ever"
    assert 0.4 < time.monotonic() - start < 5


def sends_until_reset(client: RawHttpClient, within: float) -> bool:
    """Keep sending until the server resets the connection (True) or ``within`` passes."""
    deadline = time.monotonic() + within
    client.sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            client.sock.send(b"b" * 65536)
        except TimeoutError:
            continue  # our buffer is full: the server is not reading now
        except OSError:
            return True
    return False
