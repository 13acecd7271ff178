"""PEP 3333 compliance of the WSGI side, over real sockets: a Flask app under
``wsgiref.validate``, the environ, ``start_response`` rules, framing, streaming both ways
with backpressure, errors and ``close()``."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
from flask import Flask, Response, render_template, request, stream_with_context

from flask_realtime.exceptions import DisconnectedError
from flask_realtime.runtime.limits import Limits
from flask_realtime.runtime.thread import ServerThread

from .httpkit import PeerClosed, RawHttpClient

Serve = Callable[..., ServerThread]
Connect = Callable[..., RawHttpClient]
Environ = dict[str, Any]
StartResponse = Callable[..., Any]

MiB = 2**20


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


# -- a real Flask app, checked by wsgiref.validate -------------------------------------------


@pytest.fixture
def flask_app(tmp_path: Path) -> Flask:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.html").write_text("<h1>Hello {{ name }}!</h1>")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "data.bin").write_bytes(bytes(range(256)) * 1000)
    app = Flask(
        "validated",
        template_folder=str(tmp_path / "templates"),
        static_folder=str(tmp_path / "static"),
    )

    @app.route("/hello/<name>")
    def hello(name: str) -> str:
        return render_template("hello.html", name=name)

    @app.route("/json")
    def as_json() -> dict[str, Any]:
        return {"args": request.args.to_dict(), "method": request.method}

    @app.route("/echo", methods=["POST"])
    def echo() -> bytes:
        data = bytearray()
        while chunk := request.stream.read(65536):  # the validator wants read(size)
            data += chunk
        return bytes(data)

    @app.route("/upload", methods=["POST"])
    def upload() -> dict[str, Any]:
        digest = hashlib.sha256()
        size = 0
        while chunk := request.stream.read(16384):
            digest.update(chunk)
            size += len(chunk)
        stream = request.environ["wsgi.input"]
        peak = getattr(getattr(stream, "input", stream), "peak", None)
        return {"sha256": digest.hexdigest(), "size": size, "peak": peak}

    @app.route("/stream")
    def stream() -> Response:
        count = int(request.args.get("n", "3"))

        def generate() -> Iterator[str]:
            for i in range(count):
                yield f"line {i} of {request.path}\n"

        return Response(stream_with_context(generate()), mimetype="text/plain")

    @app.route("/form", methods=["POST"])
    def form() -> dict[str, Any]:
        return {"form": request.form.to_dict()}

    return app


@pytest.fixture
def validated(http_server: Serve, flask_app: Flask) -> ServerThread:
    limits = Limits(body_buffer_size=64 * 1024, max_body_size=32 * MiB)
    return http_server(wsgi_app=validator(flask_app), limits=limits)


def test_flask_routes_templates_and_json(validated: ServerThread, http_client: Connect) -> None:
    client = http_client(validated.port)
    client.request("GET", "/hello/world")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"<h1>Hello world!</h1>")
    client.request("GET", "/json?a=1&b=two")
    assert json.loads(client.read_response().body) == {
        "args": {"a": "1", "b": "two"},
        "method": "GET",
    }
    client.request("GET", "/missing")
    assert client.read_response().status == 404


def test_flask_static_files_get_and_head(validated: ServerThread, http_client: Connect) -> None:
    client = http_client(validated.port)
    client.request("GET", "/static/data.bin")
    response = client.read_response()
    assert response.status == 200
    assert response.body == bytes(range(256)) * 1000
    client.request("HEAD", "/static/data.bin")
    head = client.read_response(head=True)
    assert head.header("content-length") == "256000"
    client.request("GET", "/hello/again")  # the HEAD left nothing on the wire
    assert client.read_response().body == b"<h1>Hello again!</h1>"


def test_flask_streaming_response_is_chunked(validated: ServerThread, http_client: Connect) -> None:
    client = http_client(validated.port)
    client.request("GET", "/stream?n=50")
    response = client.read_response()
    assert response.chunked
    assert response.body == b"".join(f"line {i} of /stream\n".encode() for i in range(50))


def test_flask_request_bodies_and_forms(validated: ServerThread, http_client: Connect) -> None:
    client = http_client(validated.port)
    client.request("POST", "/echo", body=b"x" * 100_000)
    assert client.read_response().body == b"x" * 100_000
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    assert client.read_response().body == b"abcdefg"
    # multipart: werkzeug reads it with read(size), as the validator insists on.
    form = (
        b'--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\ncaf\xc3\xa9\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="n"\r\n\r\n1\r\n--XyZ--\r\n'
    )
    client.request("POST", "/form", "Content-Type: multipart/form-data; boundary=XyZ", body=form)
    assert json.loads(client.read_response().body) == {"form": {"name": "café", "n": "1"}}


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_large_upload_streams_through_a_bounded_buffer(
    validated: ServerThread, http_client: Connect, framing: str
) -> None:
    body = hashlib.sha256(b"seed").digest() * (8 * MiB // 32)
    client = http_client(validated.port)
    if framing == "length":
        client.send(
            f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for offset in range(0, len(body), MiB):
            client.send(body[offset : offset + MiB])
    else:
        client.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for offset in range(0, len(body), 100_000):
            piece = body[offset : offset + 100_000]
            client.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        client.send(b"0\r\n\r\n")
    result = json.loads(client.read_response(timeout=30).body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["size"] == len(body)
    # Never more than the high-water mark plus one read from the socket (<= 256 KiB).
    assert result["peak"] is not None
    assert result["peak"] <= 64 * 1024 + 256 * 1024


# -- the environ ---------------------------------------------------------------------------


def environ_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    shown = {k: v for k, v in environ.items() if isinstance(v, str | bool | int | tuple)}
    shown["input_read"] = environ["wsgi.input"].read().decode("latin-1")
    data = json.dumps(shown).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]


def test_the_environ_has_the_pep3333_keys(http_server: Serve, http_client: Connect) -> None:
    server = http_server(wsgi_app=environ_app)
    client = http_client(server.port)
    client.send(
        b"POST /caf%C3%A9/a%2Fb?x=%20y&z HTTP/1.1\r\nHost: example.test:8000\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 4\r\nX-Rep: 1\r\nX-Rep: 2\r\n"
        b"Cookie: a=1\r\nCookie: b=2\r\nX_Spoof: evil\r\n\r\nbody"
    )
    env = json.loads(client.read_response().body)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/caf\u00c3\u00a9/a/b"  # UTF-8 bytes as latin-1, %2F decoded
    assert env["RAW_URI"] == env["REQUEST_URI"] == "/caf%C3%A9/a%2Fb?x=%20y&z"
    assert env["QUERY_STRING"] == "x=%20y&z"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "4"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_HOST"] == "example.test:8000"
    assert env["HTTP_X_REP"] == "1,2"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_X_SPOOF" not in env  # underscores would pose as dashes
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    host, port = client.sock.getsockname()[:2]
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == (host, str(port))
    assert env["input_read"] == "body"


def test_flask_sees_the_decoded_unicode_path(http_server: Serve, http_client: Connect) -> None:
    app = Flask("paths")

    @app.route("/<name>")
    def show(name: str) -> str:
        return name

    server = http_server(wsgi_app=app)
    client = http_client(server.port)
    client.request("GET", "/caf%C3%A9")
    assert client.read_response().body.decode() == "café"


def test_wsgi_input_reads_lines_and_sizes_across_arriving_chunks(
    http_server: Serve, http_client: Connect
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        part = stream.readline(3)
        rest_of_line = stream.readline()
        exact = stream.read(4)
        lines = stream.readlines(1)
        remaining = list(stream)
        parts = [first, part, rest_of_line, exact, *lines, b"|", *remaining, b"|", stream.read()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"/".join(parts)]

    client = http_client(http_server(wsgi_app=app).port)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"one\nlo", b"ng line\n", b"1234x", b"y\nmore\n", b"last"):
        client.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    client.send(b"0\r\n\r\n")
    assert client.read_response().body == (b"one\n/lon/g line\n/1234/xy\n/|/more\n/last/|/")


# -- framing and start_response ----------------------------------------------------------


class ClosingBody:
    """An app iterable that records ``close()``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.produced += len(chunk)
            yield chunk

    def close(self) -> None:
        self.closed.set()


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
    wait_for(lambda: "too late" in caplog.text)


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
    wait_for(lambda: "kaboom" in caplog.text)
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


# -- streaming with backpressure -----------------------------------------------------------


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
    wait_for(lambda: body.produced > 0)
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
    wait_for(lambda: len(errors) == 1)


def test_a_non_bytes_body_is_an_app_error(http_server: Serve, http_client: Connect) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[Any]:
        start_response("200 OK", [])
        return ["text, not bytes"]

    client = http_client(http_server(wsgi_app=app).port)
    client.request("GET", "/")
    assert client.read_response().status == 500
