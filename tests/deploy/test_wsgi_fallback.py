"""The wrapped ``app.wsgi_app`` under plain WSGI servers: Socket.IO by long-polling.

Real gunicorn (gthread) and waitress processes serve ``deploy_app``; the in-process tests
check what the wrap does and that under our own server it is never reached for Socket.IO.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio as socketio_client
from flask import Flask

from e2e.live_server import LiveServer
from flask_realtime import SocketIO
from flask_realtime.binding.wsgi_fallback import SocketIOWSGIFallback

from .clients import Recorder
from .processes import BIN, ServerProcess, gunicorn_command

pytestmark = pytest.mark.timeout(90)

APP = "deploy.deploy_app:app"
SERVERS = {
    "gunicorn-gthread": (
        gunicorn_command("-k", "gthread", "--threads", "8", "-w", "1", "-b", "127.0.0.1:0", APP),
        r"Listening at: http://127\.0\.0\.1:(\d+)",
    ),
    "waitress": (
        [str(BIN / "waitress-serve"), "--listen=127.0.0.1:0", "--threads=8", APP],
        r"Serving on http://127\.0\.0\.1:(\d+)",
    ),
}


@pytest.fixture(params=sorted(SERVERS))
def wsgi_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    command, listening = SERVERS[request.param]
    with ServerProcess(command, tmp_path / "server.log", listening) as server:
        yield server.start()


def test_polling_round_trips_rooms_and_broadcasts(wsgi_server: ServerProcess) -> None:
    with urllib.request.urlopen(wsgi_server.url + "/", timeout=10) as response:
        assert response.read() == b"hello from flask"
    # Both start with polling; the upgrade to WebSocket fails and they stay on polling.
    first = Recorder(wsgi_server.url, ["polling", "websocket"])
    second = Recorder(wsgi_server.url, ["polling"])
    try:
        for client in (first, second):
            pid = client.call("echo", "over polling")
            assert client.wait_for("echo") == [{"data": "over polling", "pid": pid}]
        assert first.client.transport() == "polling"
        assert first.call("join", "lobby") == "lobby"
        assert second.call("join", "lobby") == "lobby"
        second.client.emit("to_room", ("lobby", "hello lobby"))
        assert first.wait_for("room_message") == ["hello lobby"]
        assert second.wait_for("room_message") == ["hello lobby"]
        first.client.emit("announce", "for all")
        assert second.wait_for("news") == ["for all"]
        # A parked poll is answered (by a ping) within the ping interval (2 s here), so the
        # session outlives several intervals.
        second.client.sleep(5)
        assert second.call("echo", "still here") == pid
    finally:
        first.close()
        second.close()
    log = wsgi_server.log()
    assert log.count("serving them by long-polling only") == 1, log  # once per process
    assert "gunicorn -k flask_realtime.GunicornWorker" in log


def test_the_browser_client_file_is_served(wsgi_server: ServerProcess) -> None:
    url = wsgi_server.url + "/socket.io/socket.io.js"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert len(response.read()) > 10_000


def test_a_websocket_attempt_gets_a_clear_error(wsgi_server: ServerProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", wsgi_server.port, timeout=10)
    try:
        conn.request(
            "GET",
            "/socket.io/?EIO=4&transport=websocket",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
            },
        )
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 400
    assert body["message"].startswith("WebSocket is not available")
    assert "socketio.run(app)" in body["message"]
    # A client that allows only WebSocket cannot connect, and says so.
    client = socketio_client.Client(reconnection=False)
    with pytest.raises(socketio_client.exceptions.ConnectionError):
        client.connect(wsgi_server.url, transports=["websocket"], wait_timeout=5)


# -- in process -----------------------------------------------------------------------------


def test_init_app_wraps_once(flask_app: Flask) -> None:
    inner = flask_app.wsgi_app
    socketio = SocketIO(flask_app)
    socketio.init_app(flask_app)
    wrapped = flask_app.wsgi_app
    assert isinstance(wrapped, SocketIOWSGIFallback)
    assert wrapped.wsgi_app == inner  # the bound method of the app, not a wrap of a wrap
    assert wrapped.service is socketio.service_for(flask_app)


def test_the_flask_test_client_reaches_socketio_through_the_wrap(flask_app: Flask) -> None:
    SocketIO(flask_app)
    response = flask_app.test_client().get("/socket.io/?EIO=4&transport=polling")
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith('0{"sid":')


def test_under_our_server_socketio_requests_never_reach_the_wrap(
    flask_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = SocketIOWSGIFallback.__call__

    def counting(self: SocketIOWSGIFallback, environ: dict[str, Any], start: Any) -> Any:
        calls.append(environ["PATH_INFO"])
        return original(self, environ, start)

    monkeypatch.setattr(SocketIOWSGIFallback, "__call__", counting)
    socketio = SocketIO(flask_app)

    @flask_app.route("/")
    def index() -> str:
        return "page"

    live = LiveServer(flask_app, socketio).start()
    try:
        client = Recorder(live.url, ["polling", "websocket"])
        try:
            client.client.sleep(0.5)  # the upgrade happens
            assert client.client.transport() == "websocket"
        finally:
            client.close()
        with urllib.request.urlopen(live.url + "/socket.io/socket.io.js", timeout=10):
            pass
        with urllib.request.urlopen(live.url + "/", timeout=10) as response:
            assert response.read() == b"page"
    finally:
        live.close()
    assert calls == ["/"]  # only the page: the server served Socket.IO itself
