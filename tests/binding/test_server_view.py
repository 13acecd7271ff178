"""``socketio.server``: python-socketio's documented Server API over our server."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, request

from flask_realtime import SocketIO, emit
from flask_realtime.exceptions import ConfigurationError


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    socketio = SocketIO(flask_app)

    @socketio.on("ping_me")
    def ping_me() -> None:
        emit("pong", request.sid)

    @socketio.on("remember")
    def remember(value: Any) -> None:
        # From a def handler, as Flask-SocketIO apps do it.
        with socketio.server.session(request.sid) as session:
            session["value"] = value

    @socketio.on("recall")
    def recall() -> Any:
        return socketio.server.get_session(request.sid).get("value")

    return socketio


def test_rooms_enter_leave_close_and_the_manager(flask_app: Flask, socketio: SocketIO) -> None:
    a = socketio.test_client(flask_app)
    b = socketio.test_client(flask_app)
    server = socketio.server
    server.enter_room(a.sid, "lobby")
    server.enter_room(b.sid, "lobby")
    server.enter_room(b.sid, "kitchen")
    assert sorted(server.rooms(b.sid)) == sorted([b.sid, "lobby", "kitchen"])
    rooms = server.manager.rooms["/"]
    assert rooms["lobby"] == {a.sid: a.eio_sid, b.sid: b.eio_sid}
    assert rooms[a.sid] == {a.sid: a.eio_sid}  # every client is in its own room
    assert sorted(server.manager.get_participants("/", "lobby")) == sorted(
        [(a.sid, a.eio_sid), (b.sid, b.eio_sid)]
    )
    assert server.manager.get_namespaces() == ["/"]
    assert server.manager.eio_sid_from_sid(a.sid, "/") == a.eio_sid
    assert server.manager.sid_from_eio_sid(b.eio_sid, "/") == b.sid
    assert server.manager.is_connected(a.sid, "/")
    server.leave_room(a.sid, "lobby")
    assert list(server.manager.get_participants("/", "lobby")) == [(b.sid, b.eio_sid)]
    server.close_room("lobby")
    assert "lobby" not in server.manager.rooms["/"]
    assert server.rooms(b.sid) == [b.sid, "kitchen"]


def test_emit_send_and_call_reach_clients(flask_app: Flask, socketio: SocketIO) -> None:
    a = socketio.test_client(flask_app)
    b = socketio.test_client(flask_app)
    server = socketio.server
    server.emit("news", {"n": 1})  # everyone
    server.emit("pair", (1, 2), to=a.sid)  # a tuple is several arguments
    server.send("hello", room=b.sid)
    server.emit("not_a", "x", skip_sid=a.sid)
    assert a.get_received() == [
        {"name": "news", "args": [{"n": 1}], "namespace": "/"},
        {"name": "pair", "args": [1, 2], "namespace": "/"},
    ]
    assert b.get_received() == [
        {"name": "news", "args": [{"n": 1}], "namespace": "/"},
        {"name": "message", "args": "hello", "namespace": "/"},
        {"name": "not_a", "args": ["x"], "namespace": "/"},
    ]
    a.on_call("question", lambda n: n + 1)
    assert server.call("question", 41, to=a.sid, timeout=5) == 42
    with pytest.raises(ConfigurationError, match="to=sid"):
        server.call("question", 1)


def test_the_user_session(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    other = socketio.test_client(flask_app)
    client.emit("remember", "blue")
    assert client.emit("recall", callback=True) == "blue"
    assert other.emit("recall", callback=True) == []  # per client: nothing remembered
    server = socketio.server
    assert server.get_session(client.sid) == {"value": "blue"}
    server.save_session(other.sid, {"value": "green"})
    assert other.emit("recall", callback=True) == "green"
    with server.session(client.sid) as session:
        session["value"] = "red"
    assert client.emit("recall", callback=True) == "red"
    with pytest.raises(KeyError):
        server.get_session("no-such-sid")


def test_transport_environ_and_disconnect(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app, query_string="token=t1", headers={"X-App": "yes"})
    server = socketio.server
    assert server.transport(client.sid) == "websocket"  # the in-memory session
    environ = server.get_environ(client.sid)
    assert environ is not None
    assert environ["QUERY_STRING"] == "token=t1"
    assert environ["HTTP_X_APP"] == "yes"
    assert server.get_environ("no-such-sid") is None
    server.disconnect(client.sid)
    assert not client.is_connected()
    assert server.manager.eio_sid_from_sid(client.sid or "", "/") is None


def test_eio_settings_are_read_and_changed(flask_app: Flask, socketio: SocketIO) -> None:
    eio = socketio.server.eio
    assert eio.allow_upgrades is True
    assert eio.ping_interval == 25
    eio.allow_upgrades = False
    eio.ping_interval = 5
    options = socketio.service_for(flask_app).engine.options
    assert (options.allow_upgrades, options.ping_interval) == (False, 5)
    with pytest.raises(AttributeError):
        _ = eio.no_such_setting
    with pytest.raises(ConfigurationError, match="no_such_setting"):
        eio.no_such_setting = 1


def test_it_works_from_any_thread(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    results: list[Any] = []

    def worker() -> None:
        server = socketio.server
        server.enter_room(client.sid, "from-thread")
        results.append(sorted(server.rooms(client.sid)))

    with flask_app.app_context():  # socketio.server finds the app as socketio.emit does
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(10)
    assert results == [sorted([client.sid, "from-thread"])]
