"""PEP 3333 compliance of the WSGI side, over real sockets: the environ and ``wsgi.input``."""

from __future__ import annotations

import json

from flask import Flask

from .wsgi_support import Connect, Environ, Serve, StartResponse


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
