"""The WSGI environ of a session's opening request (binding/environ.py)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from wsgiref.types import StartResponse
from wsgiref.validate import validator

import pytest
from flask import Flask, request

from flask_realtime import SocketIO
from flask_realtime.binding.environ import build_environ
from flask_realtime.engine import Handshake


def environ_of(
    headers: Mapping[str, str],
    *,
    path: str = "/socket.io/",
    query: str = "EIO=4&transport=polling",
    scheme: str = "http",
    remote: tuple[str, int] | None = ("203.0.113.7", 50123),
) -> dict[str, Any]:
    handshake = Handshake("GET", path, query, headers, remote, scheme)
    return build_environ(handshake)


def check_pep_3333(environ: dict[str, Any]) -> None:
    """Run a WSGI app under wsgiref's validator with ``environ`` (it fails on a bad one)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return lambda data: None

    body = validator(app)(dict(environ), start_response)  # it wraps wsgi.input in place
    assert list(body) == [b""]
    close = getattr(body, "close", None)  # the validator's iterator insists on being closed
    assert callable(close)
    close()


def test_pep_3333_keys() -> None:
    environ = environ_of({"host": "example.com:5000"})
    check_pep_3333(environ)  # wsgiref warnings are errors in this suite
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/socket.io/"
    assert environ["QUERY_STRING"] == "EIO=4&transport=polling"
    assert environ["SERVER_NAME"] == "example.com"
    assert environ["SERVER_PORT"] == "5000"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "203.0.113.7"
    assert environ["REMOTE_PORT"] == "50123"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    body = environ["wsgi.input"]
    assert isinstance(body, io.BytesIO)
    assert body.read() == b""
    assert environ["wsgi.errors"] is sys.stderr
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False


def test_headers_become_http_keys_except_content_type_and_length() -> None:
    environ = environ_of(
        {
            "host": "example.com",
            "user-agent": "pytest",
            "cookie": "a=1; b=2",
            "x-custom-header": "v",
            "content-type": "text/plain",
            "content-length": "0",
        }
    )
    check_pep_3333(environ)
    assert environ["HTTP_HOST"] == "example.com"
    assert environ["HTTP_USER_AGENT"] == "pytest"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_X_CUSTOM_HEADER"] == "v"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "0"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert "HTTP_CONTENT_LENGTH" not in environ


@pytest.mark.parametrize(
    ("host", "scheme", "name", "port"),
    [
        ("example.com", "http", "example.com", "80"),
        ("example.com", "https", "example.com", "443"),
        ("example.com:8443", "https", "example.com", "8443"),
        ("127.0.0.1:5000", "http", "127.0.0.1", "5000"),
        ("[::1]:5000", "http", "[::1]", "5000"),
        ("[::1]", "http", "[::1]", "80"),
        ("[2001:db8::7]", "https", "[2001:db8::7]", "443"),
        ("example.com:", "http", "example.com:", "80"),
    ],
)
def test_host_and_port(host: str, scheme: str, name: str, port: str) -> None:
    environ = environ_of({"host": host}, scheme=scheme)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == (name, port)
    assert environ["wsgi.url_scheme"] == scheme


def test_without_host_header() -> None:
    environ = environ_of({})
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("localhost", "80")
    assert "HTTP_HOST" not in environ


def test_without_remote_address() -> None:
    environ = environ_of({"host": "example.com"}, remote=None)
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("", "")


def test_path_info_is_decoded_as_latin_1() -> None:
    # PEP 3333: the URL's bytes, each as one latin-1 character.
    environ = environ_of({"host": "example.com"}, path="/socket.io/%E2%82%AC%20x/")
    assert environ["PATH_INFO"] == "/socket.io/\xe2\x82\xac x/"
    assert environ["QUERY_STRING"] == "EIO=4&transport=polling"


def test_each_environ_has_its_own_input() -> None:
    first = environ_of({"host": "example.com"})
    second = environ_of({"host": "example.com"})
    assert first["wsgi.input"] is not second["wsgi.input"]


def test_a_connection_builds_its_environ_once_and_only_for_a_handler() -> None:
    app = Flask("lazy")
    socketio = SocketIO(app)
    environs: list[dict[str, Any]] = []

    @socketio.on("where", namespace="/b")
    def where() -> str:
        environs.append(request.environ)
        return str(request.environ["PATH_INFO"])

    client = socketio.test_client(app)  # no connect handler: nothing needs an environ
    service = socketio.service_for(app)

    def connection_data() -> dict[str, Any]:
        socket = service.server.get_socket(client.sid or "", "/")
        assert socket is not None
        return dict(socket.client.data)

    assert service.bridge.call_and_wait(connection_data) == {}
    client.connect("/b")
    assert client.emit("where", namespace="/b", callback=True) == "/socket.io/"
    assert client.emit("where", namespace="/b", callback=True) == "/socket.io/"
    built = service.bridge.call_and_wait(connection_data)
    assert list(built) == ["flask_realtime.environ"]  # one, shared by the namespaces
    # Each handler call gets a shallow copy (werkzeug writes into it) of that one environ.
    assert all(e["HTTP_HOST"] == built["flask_realtime.environ"]["HTTP_HOST"] for e in environs)


def test_header_names_are_mapped_alike_every_time_and_the_names_kept_are_bounded() -> None:
    # The environ keys of header names are remembered (clients repeat them); a client
    # inventing names cannot grow that table past its bound, and answers stay right.
    from flask_realtime.binding import environ as environ_module

    for _ in range(2):  # the second time from the table
        environ = environ_of({"host": "h", "x-a": "1", "x_b": "2", "content-type": "t/p"})
        assert environ["HTTP_X_A"] == "1"
        assert "HTTP_X_B" not in environ
        assert environ["CONTENT_TYPE"] == "t/p"
        assert "HTTP_CONTENT_TYPE" not in environ
    for n in range(environ_module._KEYS_KEPT * 2):
        assert environ_of({"host": "h", f"x-n{n}": "v"})[f"HTTP_X_N{n}"] == "v"
    assert len(environ_module._KEYS) <= environ_module._KEYS_KEPT
