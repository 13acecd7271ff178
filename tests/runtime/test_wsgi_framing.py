"""PEP 3333 compliance of the WSGI side, over real sockets: framing, ``start_response``
rules, errors and ``close()``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from support.waiting import wait_until

from .httpkit import PeerClosed
from .wsgi_support import ClosingBody, Connect, Environ, Serve, StartResponse


def test_content_length_is_added_for_a_one_item_list(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"exactly this"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    response = client.read_response()
    assert response.header("content-length") == "12"
    assert not response.chunked
    assert response.body == b"exactly this"


def test_unknown_length_is_chunked_for_http11_and_closes_for_http10(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"one,"
        yield b""
        yield b"two"

    server = http_server(wsgi_app=app)
    client = http_client(server.port)
    client.request("GET", "/")
    response = client.read_response()
    assert (response.chunked, response.body) == (True, b"one,two")
    old = http_client(server.port)
    old.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = old.read_response()  # no length: the body ends when the connection does
    assert response.header("transfer-encoding") is None
    assert response.body == b"one,two"


def test_head_sends_no_body_and_stops_iterating(http_server: Serve, http_client: Connect) -> None:
    body = ClosingBody(iter([b"first", b"second"]))

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    client = http_client(http_server(wsgi_app=app).port)
    client.request("HEAD", "/")
    response = client.read_response(head=True)
    assert response.status == 200
    assert body.closed.wait(5)
    assert body.produced == len(b"first")
    client.request("HEAD", "/")  # keep-alive, nothing stray on the wire
    assert client.read_response(head=True).status == 200


def test_write_callable_sends_before_the_iterable(http_server: Serve, http_client: Connect) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    assert client.read_response().body == b"written returned"


def test_headers_wait_for_the_first_non_empty_chunk(
    http_server: Serve, http_client: Connect
) -> None:
    # Nothing is sent for an empty chunk, so start_response may still replace the status.
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        try:
            raise ValueError("late failure")
        except ValueError:
            import sys

            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        yield b"replaced"

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    response = client.read_response()
    assert (response.status, response.body) == (503, b"replaced")


def test_exc_info_after_the_headers_went_out_reraises_and_drops_the_connection(
    http_server: Serve, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise ValueError("too late")
        except ValueError:
            import sys

            start_response("500 Oops", [], sys.exc_info())
        yield b"never"

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    with pytest.raises(PeerClosed):
        client.read_response()  # the chunked body never ends properly
    wait_until(lambda: "too late" in caplog.text, 10, "the log of the late write")


def test_start_response_twice_without_exc_info_is_an_error(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"no"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    assert client.read_response().status == 500


@pytest.mark.parametrize(
    "headers",
    [
        [("Transfer-Encoding", "chunked")],
        [("Keep-Alive", "timeout=5")],
        [("X-Bad", "a\r\nInjected: yes")],
        [("Bad Name", "x")],
        [("Content-Length", "lots")],
    ],
)
def test_forbidden_or_malformed_headers_are_an_app_error(
    http_server: Serve, http_client: Connect, headers: list[tuple[str, str]]
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", headers)
        return [b"no"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    response = client.read_response()
    assert response.status == 500
    assert response.header("injected") is None


def test_connection_close_from_the_app_is_honoured(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
        return [b"bye"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    response = client.read_response()
    assert (response.header("connection"), response.body) == ("close", b"bye")
    assert client.wait_closed(5)


def test_an_app_exception_gives_500_is_logged_and_close_is_called(
    http_server: Serve, http_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    def failing() -> Iterator[bytes]:
        raise RuntimeError("kaboom")
        yield b""

    body = ClosingBody(failing())

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    response = client.read_response()
    assert response.status == 500
    assert body.closed.wait(5)
    wait_until(lambda: "kaboom" in caplog.text, 10, "the log of the failure")
    record = next(r for r in caplog.records if "error in WSGI application" in r.getMessage())
    assert record.levelno == logging.ERROR


def test_body_shorter_than_its_content_length_drops_the_connection(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "10")])
        return [b"12345", b""]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    with pytest.raises(PeerClosed):
        client.read_response()


def test_body_longer_than_its_content_length_is_cut(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        yield b"1234"
        yield b"5678"

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    assert client.read_response().body == b"12345"
    client.request("GET", "/")  # the connection is still in step
    assert client.read_response().body == b"12345"
