"""``socketio.asgi_app(app)`` under a real uvicorn, driven by python-socketio's client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio as pysio
import uvicorn
from flask import Flask, request

import flask_realtime
from flask_realtime import SocketIO, emit
from support.ports import free_port
from support.waiting import wait_until

DEADLINE = 10.0


class UvicornThread:
    """uvicorn serving an ASGI app from a thread with its own loop, stopped on exit."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()))

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        wait_until(lambda: self.server.started, DEADLINE, "uvicorn to start", interval=0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "uvicorn did not stop"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _make_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @app.route("/hello")
    def hello() -> str:
        return "hello from flask"

    @socketio.on("echo")
    def echo(data: Any) -> None:
        emit("echo", {"data": data, "sid": request.sid})

    @socketio.on("add")
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    return app, socketio


@pytest.fixture
def served() -> Iterator[UvicornThread]:
    app, socketio = _make_app()
    with UvicornThread(socketio.asgi_app(app)) as server:
        yield server


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
def test_socketio_events_and_acks_under_uvicorn(
    served: UvicornThread, transports: list[str]
) -> None:
    client = pysio.Client()
    received: list[Any] = []
    client.on("echo", received.append)
    client.connect(served.url, transports=transports, wait_timeout=DEADLINE)
    try:
        client.emit("echo", "hi")
        wait_until(lambda: received, DEADLINE, "the echo", interval=0.01)
        assert received[0]["data"] == "hi"
        assert received[0]["sid"] == client.get_sid()  # request.sid in a def handler
        assert client.call("add", (2, 3), timeout=DEADLINE) == 5  # async def handler's ack
    finally:
        client.disconnect()


def test_flask_routes_and_client_file_share_the_port(served: UvicornThread) -> None:
    response = requests.get(served.url + "/hello", timeout=DEADLINE)
    assert response.status_code == 200
    assert response.text == "hello from flask"
    script = requests.get(served.url + "/socket.io/socket.io.js", timeout=DEADLINE)
    assert script.status_code == 200
    shipped = Path(flask_realtime.__file__).parent / "static" / "socket.io.js"
    assert script.content == shipped.read_bytes()  # our client, byte for byte
    assert script.headers["content-type"].startswith("text/javascript")


def test_binding_to_a_second_loop_is_refused() -> None:
    app, socketio = _make_app()
    asgi = socketio.asgi_app(app)
    scope = {"type": "http", "path": "/socket.io/socket.io.js", "method": "GET", "headers": []}

    async def one_request() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        await asgi(scope, receive, send)

    asyncio.run(one_request())  # binds to this loop; the loop then ends
    with pytest.raises(Exception, match="another event loop"):
        asyncio.run(one_request())
