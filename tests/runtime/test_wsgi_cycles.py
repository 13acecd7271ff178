"""A WSGI request leaves no reference cycle behind: its exchange, call, channel and
streams are freed by reference counting when the response is out.

Under load the cyclic collector had to free one cycle per plain HTTP request, and the
cost of freeing them made its full passes long loop stalls (issue 14)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from flask_realtime.runtime.http.exchanges import WsgiExchange
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.wsgi.call import WsgiCall
from flask_realtime.runtime.wsgi.input import InputStream
from flask_realtime.runtime.wsgi.output import OutputChannel
from support.waiting import wait_until

from .wsgi_support import Connect, Environ, Serve, StartResponse

_REQUEST_TYPES = (WsgiExchange, WsgiCall, Request, OutputChannel, InputStream)


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """Cyclic garbage made during the test: the collector is off, and what it finds at
    the end is kept in ``gc.garbage`` instead of freed."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"got " + body]


@pytest.mark.parametrize("expect_continue", [False, True])
def test_wsgi_requests_leave_no_cycle(
    http_server: Serve, http_client: Connect, saved_garbage: list[object], expect_continue: bool
) -> None:
    server = http_server(wsgi_app=_app)
    client = http_client(server.port)
    for i in range(20):
        client.request("GET", "/")
        assert client.read_response().body == b"got "
        body = b"x%02d" % i
        if expect_continue:  # the body waits for "100 Continue", sent when the app reads
            client.send(
                b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
            )
            assert client.read_response().status == 100
            client.send(body)
        else:
            client.request("POST", "/", body=body)
        assert client.read_response().body == b"got " + body
    client.close()
    wait_until(lambda: server.server.connection_count == 0, what="the connection closed")
    gc.collect()
    left = [type(o).__name__ for o in saved_garbage if issubclass(type(o), _REQUEST_TYPES)]
    assert left == []


def test_refused_request_bodies_leave_no_cycle(
    http_server: Serve, http_client: Connect, saved_garbage: list[object]
) -> None:
    """A body over the limit, found while the app reads it: the stream's error, raised in
    the app's thread, is answered (413) and leaves nothing for the collector."""
    server = http_server(wsgi_app=_app, limits=Limits(max_body_size=1000))
    head = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    for _ in range(10):
        client = http_client(server.port)
        client.send(head)
        for _ in range(5):
            try:
                client.send(b"100\r\n" + b"y" * 256 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
        assert client.read_response().status == 413
        assert client.wait_closed(5)
    wait_until(lambda: server.server.connection_count == 0, what="the connections closed")
    gc.collect()
    left = [type(o).__name__ for o in saved_garbage if issubclass(type(o), _REQUEST_TYPES)]
    assert left == []
