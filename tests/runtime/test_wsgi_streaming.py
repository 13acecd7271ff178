"""PEP 3333 compliance of the WSGI side, over real sockets: streaming both ways with
backpressure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from flask_realtime.exceptions import DisconnectedError
from flask_realtime.runtime.http.limits import Limits
from support.waiting import wait_until

from .wsgi_support import ClosingBody, Connect, Environ, MiB, Serve, StartResponse


def test_a_slow_reader_holds_a_thread_not_memory_nor_the_others(
    http_server: Serve, http_client: Connect
) -> None:
    def endless() -> Iterator[bytes]:
        chunk = b"z" * 65536
        while True:
            yield chunk

    body = ClosingBody(endless())

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/endless":
            return body
        return [b"quick"]

    server = http_server(wsgi_app=app, limits=Limits(io_timeout=1.0))
    sleeper = http_client(server.port)
    sleeper.request("GET", "/endless")  # and never read
    wait_until(lambda: body.produced > 0, 10, "the body to start")
    for _ in range(5):
        other = http_client(server.port)
        other.request("GET", "/quick")
        assert other.read_response().body == b"quick"
    # The app is held back by the client's pace; when it stays stuck past io_timeout the
    # response is abandoned and the iterable closed.
    assert body.closed.wait(15)
    assert body.produced < 32 * MiB
    assert sleeper.wait_closed(5)


def test_a_reader_in_the_app_gives_up_when_the_body_never_comes(
    http_server: Serve, http_client: Connect
) -> None:
    errors: list[BaseException] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except DisconnectedError as exc:
            errors.append(exc)
            raise
        start_response("200 OK", [])
        return [b"unexpected"]

    server = http_server(wsgi_app=app, limits=Limits(io_timeout=0.5))
    client = http_client(server.port)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345")
    assert client.wait_closed(10)
    assert len(errors) == 1


def test_a_client_gone_mid_upload_wakes_the_reading_app(
    http_server: Serve, http_client: Connect
) -> None:
    errors: list[BaseException] = []
    reading = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        reading.set()
        try:
            environ["wsgi.input"].read()
        except DisconnectedError as exc:
            errors.append(exc)
            raise
        start_response("200 OK", [])
        return [b"unexpected"]

    server = http_server(wsgi_app=app)  # io_timeout 60 s: only the hang-up can wake it
    client = http_client(server.port)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial")
    assert reading.wait(5)
    client.close()
    wait_until(lambda: len(errors) == 1, 10, "the error")


def test_a_non_bytes_body_is_an_app_error(http_server: Serve, http_client: Connect) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[Any]:
        start_response("200 OK", [])
        return ["text, not bytes"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    assert client.read_response().status == 500
