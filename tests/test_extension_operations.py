"""The SocketIO extension: socketio.* operations outside handlers; the test client factory."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, request

from flask_realtime import Namespace, SocketIO, emit
from flask_realtime.exceptions import (
    CallTimeoutError,
    ConfigurationError,
    ContextError,
    DisconnectedError,
)
from flask_realtime.testing import SocketIOTestClient

# -- operations outside handlers -----------------------------------------------------------


def test_socketio_emit_from_a_thread_reaches_everyone(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    done = threading.Event()

    def background() -> None:
        socketio.emit("news", {"n": 1})
        done.set()

    threading.Thread(target=background).start()
    assert done.wait(5)
    # Settle: an emit from the client runs after the news on the loop.
    a.emit("noop")
    b.emit("noop")
    for client in (a, b):
        assert client.get_received() == [{"name": "news", "args": [{"n": 1}], "namespace": "/"}]


def test_socketio_emit_and_send_with_to_namespace_and_skip_sid(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, namespaces=["/n"])  # accepted without handlers
    a = socketio.test_client(flask_app, namespace="/n")
    b = socketio.test_client(flask_app, namespace="/n")
    sid_a, sid_b = a.get_sid("/n"), b.get_sid("/n")
    assert sid_a
    assert sid_b
    socketio.emit("to-a", 1, to=sid_a, namespace="/n")
    socketio.emit("room-b", 2, room=sid_b, namespace="/n")
    socketio.emit("not-a", 3, namespace="/n", skip_sid=sid_a)
    socketio.send("text", namespace="/n", to=sid_a)
    socketio.send({"j": 1}, json=True, namespace="/n", to=sid_b)
    socketio.emit("multi", ("x", "y"), to=sid_a, namespace="/n")
    a.emit("noop", namespace="/n")
    b.emit("noop", namespace="/n")
    assert a.get_received("/n") == [
        {"name": "to-a", "args": [1], "namespace": "/n"},
        {"name": "message", "args": "text", "namespace": "/n"},
        {"name": "multi", "args": ["x", "y"], "namespace": "/n"},
    ]
    assert b.get_received("/n") == [
        {"name": "room-b", "args": [2], "namespace": "/n"},
        {"name": "not-a", "args": [3], "namespace": "/n"},
        {"name": "json", "args": {"j": 1}, "namespace": "/n"},
    ]


def test_include_self_false_outside_a_handler_is_a_context_error(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    with pytest.raises(ContextError, match="skip_sid"):
        socketio.emit("x", include_self=False)


def test_socketio_emit_callback_runs_with_the_clients_ack(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)
    client.on_call("question", lambda n: n * 2)
    got = threading.Event()
    answers: list[Any] = []

    def callback(value: int) -> None:
        answers.append(value)
        got.set()

    socketio.emit("question", 21, to=client.sid, callback=callback)
    assert got.wait(5)
    assert answers == [42]


def test_socketio_call_from_a_thread_returns_the_ack(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)
    client.on_call("add", lambda a, b: a + b)
    client.on_call("pair", lambda: ("x", 1))
    assert socketio.call("add", (2, 3), to=client.sid) == 5
    assert socketio.call("pair", to=client.sid) == ("x", 1)


def test_socketio_call_timeout_and_missing_recipient(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)
    with pytest.raises(CallTimeoutError):
        socketio.call("unanswered", to=client.sid, timeout=0.05)
    with pytest.raises(ConfigurationError, match="to=sid"):
        socketio.call("nobody")
    with pytest.raises(DisconnectedError):
        socketio.call("gone", to="no-such-sid")


def test_room_operations_from_outside_handlers(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    assert a.sid
    assert b.sid
    socketio.enter_room(a.sid, "lobby")
    socketio.enter_room(b.sid, "lobby")
    assert socketio.rooms(a.sid) == [a.sid, "lobby"]
    socketio.emit("hi", to="lobby")
    socketio.leave_room(b.sid, "lobby")
    socketio.emit("again", to="lobby")
    socketio.close_room("lobby")
    socketio.emit("closed", to="lobby")
    assert socketio.rooms(a.sid) == [a.sid]
    a.emit("noop")
    b.emit("noop")
    assert [m["name"] for m in a.get_received()] == ["hi", "again"]
    assert [m["name"] for m in b.get_received()] == ["hi"]
    socketio.disconnect(a.sid)
    b.emit("noop")  # settle the loop
    assert not a.is_connected()


# -- the test client factory ---------------------------------------------------------------


def test_test_client_factory_passes_its_arguments(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    seen: dict[str, Any] = {}

    @socketio.on("connect", namespace="/q")
    def connect(auth: Any) -> None:
        seen.update(auth=auth, arg=request.args.get("k"), header=request.headers.get("X-T"))

    client = socketio.test_client(
        flask_app, namespace="/q", query_string="?k=v", headers={"X-T": "h"}, auth={"a": 1}
    )
    assert isinstance(client, SocketIOTestClient)
    assert client.is_connected("/q")
    assert seen == {"auth": {"a": 1}, "arg": "v", "header": "h"}


def test_namespace_helpers_need_registration() -> None:
    with pytest.raises(ConfigurationError, match="on_namespace"):
        Namespace("/x").emit("e")


def test_emit_context_function_is_exported(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("e")
    def e() -> None:
        emit("back")

    client = socketio.test_client(flask_app)
    client.emit("e")
    assert client.get_received() == [{"name": "back", "args": [], "namespace": "/"}]
