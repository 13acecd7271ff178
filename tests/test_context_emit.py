"""Handlers' context: emit, send and call from a handler."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, request

from context_support import names
from flask_realtime import SocketIO, call, emit, join_room, send


@pytest.fixture
def socketio(flask_app: Flask) -> SocketIO:
    return SocketIO(flask_app)


# -- emit / send ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["def", "async"])
def test_emit_without_to_answers_the_sender_only(
    flask_app: Flask, socketio: SocketIO, kind: str
) -> None:
    if kind == "def":

        @socketio.on("hi")
        def hi(data: Any) -> None:
            emit("hello", data)

    else:

        @socketio.on("hi")
        async def hi_async(data: Any) -> None:
            emit("hello", data)

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    a.emit("hi", {"n": 1})
    assert a.get_received() == [{"name": "hello", "args": [{"n": 1}], "namespace": "/"}]
    assert b.get_received() == []


def test_emit_broadcast_and_include_self(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("all")
    def to_all() -> None:
        emit("everyone", broadcast=True)

    @socketio.on("others")
    def to_others() -> None:
        emit("not-you", broadcast=True, include_self=False)

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    a.emit("all")
    a.emit("others")
    assert names(a.get_received()) == ["everyone"]
    assert names(b.get_received()) == ["everyone", "not-you"]


def test_emit_to_room_skip_sid_and_tuple_arguments(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("join")
    def on_join(room: str) -> None:
        join_room(room)

    @socketio.on("say")
    def say(room: str, skip: str | None) -> None:
        emit("said", ("in", room), to=room, skip_sid=skip)

    @socketio.on("say_room")
    def say_room(room: str) -> None:
        emit("said", room, room=room)

    a, b, c = (socketio.test_client(flask_app) for _ in range(3))
    a.emit("join", "r")
    b.emit("join", "r")
    c.emit("say", "r", None)
    c.emit("say", "r", a.sid)
    c.emit("say_room", "r")
    assert [m["args"] for m in a.get_received()] == [["in", "r"], ["r"]]
    assert [m["args"] for m in b.get_received()] == [["in", "r"], ["in", "r"], ["r"]]
    assert c.get_received() == []


def test_emit_in_another_namespace(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("connect", namespace="/other")
    def other_connect() -> None:
        pass

    @socketio.on("cross")
    def cross() -> None:
        emit("over-there", broadcast=True, namespace="/other")

    client = socketio.test_client(flask_app)
    client.connect("/other")
    client.emit("cross")
    assert client.get_received("/") == []
    assert client.get_received("/other") == [
        {"name": "over-there", "args": [], "namespace": "/other"}
    ]


def test_send_and_json_messages(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("message")
    def on_message(text: str) -> None:
        send(text.upper())

    @socketio.on("json")
    def on_json(data: dict[str, Any]) -> None:
        send({"got": data}, json=True)

    @socketio.on("shout")
    def shout(text: str) -> None:
        send(text, broadcast=True, include_self=False)

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    a.send("hi")
    a.send({"k": 1}, json=True)
    a.emit("shout", "hey")
    assert a.get_received() == [
        {"name": "message", "args": "HI", "namespace": "/"},
        {"name": "json", "args": {"got": {"k": 1}}, "namespace": "/"},
    ]
    assert b.get_received() == [{"name": "message", "args": "hey", "namespace": "/"}]


def test_emit_callback_runs_with_the_senders_context(flask_app: Flask, socketio: SocketIO) -> None:
    answered = threading.Event()
    seen: list[Any] = []

    def on_answer(value: Any) -> None:
        seen.append((value, request.sid, request.namespace))
        answered.set()

    @socketio.on("ask")
    def ask() -> None:
        emit("question", 1, callback=on_answer)

    client = socketio.test_client(flask_app)
    client.on_call("question", lambda n: n + 1)
    client.emit("ask")
    assert answered.wait(5)
    assert seen == [(2, client.sid, "/")]


@pytest.mark.parametrize("kind", ["def", "async"])
def test_call_from_a_handler_waits_for_the_client(
    flask_app: Flask, socketio: SocketIO, kind: str
) -> None:
    if kind == "def":

        @socketio.on("start")
        def start() -> Any:
            return call("compute", 20, 1)

    else:

        @socketio.on("start")
        async def start_async() -> Any:
            return await call("compute", 20, 1)

    client = socketio.test_client(flask_app)
    client.on_call("compute", lambda a, b: a + b + 21)
    assert client.emit("start", callback=True) == 42
