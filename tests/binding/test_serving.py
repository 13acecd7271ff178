"""socketio.run(): one server for the Flask routes and Socket.IO, stopped by socketio.stop()."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.binding.serving import openable_urls
from flask_realtime.exceptions import ConfigurationError
from support.tls import self_signed
from support.waiting import wait_until


class Running:
    """``socketio.run(app, ...)`` in a thread, with what it raised or warned."""

    def __init__(self, socketio: SocketIO, app: Flask, **kwargs: Any) -> None:
        self.socketio = socketio
        self.app = app
        self.error: BaseException | None = None
        self.warnings: list[warnings.WarningMessage] = []
        self.thread = threading.Thread(target=self._main, kwargs=kwargs, daemon=True)

    def _main(self, **kwargs: Any) -> None:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.socketio.run(self.app, **kwargs)
            self.warnings = list(caught)
        except BaseException as exc:
            self.error = exc

    @property
    def url(self) -> str:
        server = self.socketio.service_for(self.app).host.server
        assert server is not None
        return server.url

    def get(self, path: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5, context=context) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@contextmanager
def running(socketio: SocketIO, app: Flask, **kwargs: Any) -> Iterator[Running]:
    """``socketio.run(app, **kwargs)`` in a thread while the block runs; stopped after it.

    Raises what ``run()`` raised, when it failed to start or when it stopped.
    """
    run = Running(socketio, app, **kwargs)
    host = socketio.service_for(app).host
    run.thread.start()
    wait_until(
        lambda: host.started.is_set() or not run.thread.is_alive(), 10, "run() to start or end"
    )
    if run.error is not None:
        raise run.error
    try:
        yield run
    finally:
        socketio.stop()
        run.thread.join(15)
    assert not run.thread.is_alive(), "socketio.run() did not return after stop()"
    if run.error is not None:
        raise run.error
        assert not run.thread.is_alive(), "run() did not return after stop()"
    if run.error is not None:  # it failed while serving, or while stopping
        raise run.error


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    socketio = SocketIO(flask_app)

    @flask_app.route("/")
    def index() -> str:
        return "hello from flask"

    return socketio


def test_run_serves_routes_and_socketio_until_stopped(flask_app: Flask, socketio: SocketIO) -> None:
    with running(socketio, flask_app, port=0) as run:
        assert run.get("/") == (200, "hello from flask")
        status, body = run.get("/socket.io/?EIO=4&transport=polling")
        assert status == 200
        assert body.startswith('0{"sid":')
    assert run.error is None


def test_http_limits_reach_the_server(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, http_limits={"max_url_size": 300})

    @flask_app.route("/<path:anything>")
    def anything(anything: str) -> str:
        return str(len(anything))

    with running(socketio, flask_app, port=0) as run:
        assert run.get("/" + "a" * 250) == (200, "250")
        status, _ = run.get("/" + "a" * 400)
        assert status == 414  # the default (8 KiB) would have served it


def test_stop_from_a_route_ends_run(flask_app: Flask, socketio: SocketIO) -> None:
    @flask_app.route("/shutdown")
    def shutdown() -> str:
        socketio.stop()
        return "bye"

    with running(socketio, flask_app, port=0) as run:
        assert run.get("/shutdown") == (200, "bye")
        run.thread.join(15)
        assert not run.thread.is_alive()


def test_run_after_the_embedded_loop_started(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("ping")
    def ping() -> str:
        return "pong"

    client = socketio.test_client(flask_app)  # the app now lives on the embedded loop
    with running(socketio, flask_app, port=0) as run:
        assert run.get("/") == (200, "hello from flask")
        assert client.emit("ping", callback=True) == "pong"  # same server, same state
    assert client.emit("ping", callback=True) == "pong"  # the embedded loop goes on


def test_port_from_server_name(flask_app: Flask, socketio: SocketIO) -> None:
    flask_app.config["SERVER_NAME"] = "127.0.0.1:0"
    with running(socketio, flask_app) as run:
        assert run.url.startswith("http://127.0.0.1:")
        assert not run.url.endswith(":0")


def test_debug_wraps_the_app_in_the_debugger(flask_app: Flask, socketio: SocketIO) -> None:
    @flask_app.route("/fail")
    def fail() -> str:
        raise RuntimeError("debug me")

    with running(socketio, flask_app, port=0, debug=True, use_reloader=False) as run:
        status, body = run.get("/fail")
        assert status == 500
        assert "Werkzeug Debugger" in body
        assert "debug me" in body
    assert flask_app.debug is True


def test_log_output_logs_requests(
    flask_app: Flask, socketio: SocketIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_realtime.access")
    with running(socketio, flask_app, port=0, log_output=True) as run:
        run.get("/")
    assert any('"GET / HTTP/1.1" 200' in r.getMessage() for r in caplog.records)


def test_allow_unsafe_werkzeug_is_accepted_with_a_warning(
    flask_app: Flask, socketio: SocketIO
) -> None:
    with running(socketio, flask_app, port=0, allow_unsafe_werkzeug=True) as run:
        pass
    assert [w.category for w in run.warnings] == [DeprecationWarning]
    assert "allow_unsafe_werkzeug" in str(run.warnings[0].message)


def test_unknown_run_options_are_refused(flask_app: Flask, socketio: SocketIO) -> None:
    with pytest.raises(ConfigurationError, match="use_relaoder: did you mean use_reloader"):
        socketio.run(flask_app, use_relaoder=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ssl_context": "nonsense"}, "ssl_context must be"),
        ({"ssl_context": "adhoc", "certfile": "c.pem"}, "not both"),
    ],
)
def test_bad_tls_settings_are_refused(
    flask_app: Flask, socketio: SocketIO, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        socketio.run(flask_app, port=0, **kwargs)


def test_a_second_run_of_the_same_app_is_refused(flask_app: Flask, socketio: SocketIO) -> None:
    with running(socketio, flask_app, port=0), pytest.raises(ConfigurationError, match="already"):
        socketio.run(flask_app, port=0)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate and its key, made by the openssl command."""
    cert, key = self_signed(tmp_path)
    return str(cert), str(key)


@pytest.mark.parametrize("form", ["files", "pair", "context"])
def test_https(
    flask_app: Flask, socketio: SocketIO, certificate: tuple[str, str], form: str
) -> None:
    cert, key = certificate
    if form == "files":
        kwargs: dict[str, Any] = {"certfile": cert, "keyfile": key}
    elif form == "pair":
        kwargs = {"ssl_context": (cert, key)}
    else:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs = {"ssl_context": context}
    client_context = ssl.create_default_context(cafile=cert)
    client_context.check_hostname = False
    with running(socketio, flask_app, port=0, **kwargs) as run:
        assert run.url.startswith("https://")
        assert run.get("/", context=client_context) == (200, "hello from flask")


def test_a_port_in_use_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import sys\n"
        "from flask import Flask\n"
        "from flask_realtime import SocketIO\n"
        "app = Flask(__name__)\n"
        "socketio = SocketIO(app)\n"
        "socketio.run(app, port=int(sys.argv[1]))\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(script), str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"Port {port} on 127.0.0.1 is in use" in done.stderr
    assert f"port={port + 1}" in done.stderr


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", ["http://127.0.0.1:5000"]),
        ("::1", ["http://[::1]:5000"]),
        ("example.test", ["http://example.test:5000"]),
    ],
)
def test_announced_urls_for_an_address(host: str, expected: list[str]) -> None:
    assert openable_urls("http", host, 5000) == expected


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_wildcard_address_is_announced_as_urls_one_can_open(host: str) -> None:

    urls = openable_urls("https", host, 8443)
    assert urls[0] == "https://127.0.0.1:8443"
    assert all("0.0.0.0" not in url and "[::]" not in url for url in urls)
    own = socket.gethostbyname(socket.gethostname())
    if not own.startswith("127."):
        assert urls[1:] == [f"https://{own}:8443"]


def test_head_of_the_browser_client_announces_its_length(
    flask_app: Flask, socketio: SocketIO
) -> None:
    with running(socketio, flask_app, port=0) as run:
        url = run.url + "/socket.io/socket.io.js"
        with urllib.request.urlopen(url, timeout=5) as response:
            size = len(response.read())
        head = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(head, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(size)  # RFC 9110 9.3.2
            assert response.read() == b""
    assert size > 1000


def test_several_workers_refuse_recovery_kept_in_each_workers_memory() -> None:
    # A client that comes back opens a new connection, which may reach another worker:
    # refused before any process is forked or any port bound.
    app = Flask("recovering_workers")
    socketio = SocketIO(app, connection_state_recovery={"max_disconnection_duration": 60})
    with pytest.raises(ConfigurationError, match=r"message_queue='redis\+streams://"):
        socketio.run(app, host="127.0.0.1", port=0, workers=2, use_reloader=False)
