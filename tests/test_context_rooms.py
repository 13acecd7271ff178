"""Handlers' context: rooms, disconnect, and the context functions outside a handler."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_realtime import (
    SocketIO,
    call,
    close_room,
    disconnect,
    emit,
    join_room,
    leave_room,
    rooms,
    send,
)
from flask_realtime.exceptions import ContextError


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    return SocketIO(flask_app)


# -- rooms and disconnect ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["def", "async"])
def test_join_leave_rooms_and_close_room(flask_app: Flask, socketio: SocketIO, kind: str) -> None:
    def steps() -> list[Any]:
        join_room("a")
        join_room("b")
        after_join = rooms()
        leave_room("a")
        after_leave = rooms()
        close_room("b")
        return [after_join, after_leave, rooms()]

    if kind == "def":
        socketio.on_event("rooms", steps)
    else:

        async def steps_async() -> list[Any]:
            return steps()

        socketio.on_event("rooms", steps_async)

    client = socketio.test_client(flask_app)
    sid = client.sid
    assert client.emit("rooms", callback=True) == [[sid, "a", "b"], [sid, "b"], [sid]]


def test_room_functions_for_another_client(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("enrol")
    def enrol(other: str) -> list[str]:
        join_room("club", sid=other)
        return rooms(sid=other)

    @socketio.on("expel")
    def expel(other: str) -> list[str]:
        leave_room("club", sid=other, namespace="/")
        return rooms(other, "/")

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    assert a.emit("enrol", b.sid, callback=True) == [b.sid, "club"]
    assert a.emit("expel", b.sid, callback=True) == [b.sid]


def test_disconnect_from_a_handler(flask_app: Flask, socketio: SocketIO) -> None:
    reasons: list[str] = []

    @socketio.on("bye")
    def bye() -> None:
        disconnect()

    @socketio.on("disconnect")
    def on_disconnect(reason: str) -> None:
        reasons.append(reason)

    client = socketio.test_client(flask_app)
    client.emit("bye")
    assert not client.is_connected()
    assert reasons == [SocketIO.reason.SERVER_DISCONNECT]


def test_disconnect_another_client(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("kick")
    def kick(sid: str) -> None:
        disconnect(sid)

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    a.emit("kick", b.sid)
    assert a.is_connected()
    assert not b.is_connected()


def test_room_functions_with_sid_in_an_app_context(flask_app: Flask, socketio: SocketIO) -> None:
    client = socketio.test_client(flask_app)
    assert client.sid
    with flask_app.app_context():
        join_room("lobby", sid=client.sid)
        assert rooms(sid=client.sid) == [client.sid, "lobby"]
        leave_room("lobby", sid=client.sid)
        close_room("lobby")
        disconnect(sid=client.sid)
    assert socketio.rooms(client.sid) == []  # waits for the loop: the disconnect is done
    assert not client.is_connected()


@pytest.mark.parametrize(
    ("function", "fix"),
    [
        (lambda: emit("x"), r"emit\(\) outside a Socket.IO handler: use socketio.emit"),
        (lambda: send("x"), r"send\(\) outside a Socket.IO handler: use socketio.send"),
        (lambda: call("x"), r"call\(\) outside a Socket.IO handler: use socketio.call"),
        (lambda: join_room("r"), "pass sid="),
        (lambda: leave_room("r"), "pass sid="),
        (lambda: rooms(), "pass sid="),
        (lambda: disconnect(), "pass sid="),
        (lambda: join_room("r", sid="s"), "app context"),
        (lambda: close_room("r"), "app context"),
    ],
)
def test_context_functions_outside_a_handler_say_what_to_do(function: Any, fix: str) -> None:
    with pytest.raises(ContextError, match=fix):
        function()


def test_emit_in_a_flask_view_is_a_context_error(flask_app: Flask, socketio: SocketIO) -> None:
    @flask_app.route("/")
    def view() -> str:
        try:
            emit("x")
        except ContextError as exc:
            return str(exc)
        return "no error"

    assert "socketio.emit" in flask_app.test_client().get("/").get_data(as_text=True)
