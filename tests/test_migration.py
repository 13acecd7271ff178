"""A Flask-SocketIO app runs on flask-realtime with one changed import.

``FLASK_SOCKETIO_APP`` is written for Flask-SocketIO, against its documented API. The test
changes its one import line, runs it, and drives it with the test client the way a
Flask-SocketIO test suite would.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

FLASK_SOCKETIO_APP = """
from threading import Lock

from flask import Flask, request, session
from flask_socketio import (
    ConnectionRefusedError, Namespace, SocketIO, close_room, disconnect, emit, join_room,
    leave_room, rooms, send,
)

app = Flask(__name__)
app.config["SECRET_KEY"] = "secret!"
socketio = SocketIO(app, cors_allowed_origins="*", async_mode=None)
thread = None
thread_lock = Lock()
TOKENS = {"alice-token": "alice", "bob-token": "bob"}


def background_thread(count):
    for n in range(count):
        socketio.sleep(0)
        socketio.emit("tick", {"n": n}, namespace="/chat")


@socketio.on("connect", namespace="/chat")
def chat_connect(auth):
    if not auth or auth.get("token") not in TOKENS:
        raise ConnectionRefusedError("unauthorized", {"reason": "bad token"})
    session["user"] = TOKENS[auth["token"]]
    emit("welcome", {"user": session["user"], "sid": request.sid})


@socketio.on("disconnect", namespace="/chat")
def chat_disconnect(reason):
    app.config.setdefault("LEFT", []).append((session["user"], reason))


@socketio.on("echo", namespace="/chat")
def echo(message):
    emit("echo", message)


@socketio.on("shout", namespace="/chat")
def shout(message):
    emit("shout", {"user": session["user"], "text": message}, broadcast=True)


@socketio.on("join", namespace="/chat")
def join(room):
    join_room(room)
    emit("joined", {"user": session["user"], "room": room}, to=room)
    return sorted(rooms())


@socketio.on("leave", namespace="/chat")
def leave(room):
    leave_room(room)
    send(session["user"] + " left " + room, to=room)


@socketio.on("say", namespace="/chat")
def say(room, text):
    emit("said", {"user": session["user"], "text": text}, room=room, include_self=False)


@socketio.on("close", namespace="/chat")
def close(room):
    close_room(room)


@socketio.on("add", namespace="/chat")
def add(a, b):
    return a + b


@socketio.on("boom", namespace="/chat")
def boom():
    raise ValueError("kaboom")


@socketio.on_error("/chat")
def chat_error(e):
    return {"error": str(e), "event": request.event["message"]}


@socketio.on("start_ticker", namespace="/chat")
def start_ticker(count):
    global thread
    with thread_lock:
        thread = socketio.start_background_task(background_thread, count)


@socketio.on("bye", namespace="/chat")
def bye():
    disconnect()


class Stats(Namespace):
    seen = 0

    def on_connect(self):
        Stats.seen += 1
        emit("stats", {"seen": Stats.seen})

    def on_get(self, key):
        return {"key": key, "sid": request.sid}

    def on_broadcast(self, data):
        self.emit("broadcast", data)


socketio.on_namespace(Stats("/stats"))


@app.route("/")
def index():
    return "index"


if __name__ == "__main__":
    socketio.run(app)
"""


@pytest.fixture
def chat() -> types.ModuleType:
    """The Flask-SocketIO app above, with its one import changed."""
    assert FLASK_SOCKETIO_APP.count("from flask_socketio import") == 1
    source = FLASK_SOCKETIO_APP.replace("from flask_socketio import", "from flask_realtime import")
    module = types.ModuleType("chat_app")
    exec(compile(source, "chat_app.py", "exec"), module.__dict__)
    return module


def connect(chat: types.ModuleType, token: str) -> Any:
    client = chat.socketio.test_client(chat.app, namespace="/chat", auth={"token": token})
    assert client.is_connected("/chat")
    return client


def test_connect_with_auth_and_refusal(chat: types.ModuleType) -> None:
    alice = connect(chat, "alice-token")
    assert alice.get_received("/chat") == [
        {
            "name": "welcome",
            "args": [{"user": "alice", "sid": alice.get_sid("/chat")}],
            "namespace": "/chat",
        }
    ]
    intruder = chat.socketio.test_client(chat.app, namespace="/chat", auth={"token": "nope"})
    assert not intruder.is_connected("/chat")
    assert intruder.connect_error == {"message": "unauthorized", "data": {"reason": "bad token"}}


def test_echo_broadcast_and_ack(chat: types.ModuleType) -> None:
    alice, bob = connect(chat, "alice-token"), connect(chat, "bob-token")
    alice.get_received("/chat")
    bob.get_received("/chat")
    alice.emit("echo", {"data": "hi"}, namespace="/chat")
    assert alice.get_received("/chat") == [
        {"name": "echo", "args": [{"data": "hi"}], "namespace": "/chat"}
    ]
    assert bob.get_received("/chat") == []
    bob.emit("shout", "hello all", namespace="/chat")
    expected = {"name": "shout", "args": [{"user": "bob", "text": "hello all"}],
                "namespace": "/chat"}  # fmt: skip
    assert alice.get_received("/chat") == [expected]
    assert bob.get_received("/chat") == [expected]
    assert alice.emit("add", 2, 3, namespace="/chat", callback=True) == 5


def test_rooms(chat: types.ModuleType) -> None:
    alice, bob = connect(chat, "alice-token"), connect(chat, "bob-token")
    alice.get_received("/chat")
    bob.get_received("/chat")
    assert alice.emit("join", "lobby", namespace="/chat", callback=True) == sorted(
        [alice.get_sid("/chat"), "lobby"]
    )
    bob.emit("join", "lobby", namespace="/chat")
    assert [m["args"][0]["user"] for m in alice.get_received("/chat")] == ["alice", "bob"]
    bob.get_received("/chat")
    bob.emit("say", "lobby", "psst", namespace="/chat")
    assert alice.get_received("/chat") == [
        {"name": "said", "args": [{"user": "bob", "text": "psst"}], "namespace": "/chat"}
    ]
    assert bob.get_received("/chat") == []
    bob.emit("leave", "lobby", namespace="/chat")
    assert alice.get_received("/chat") == [
        {"name": "message", "args": "bob left lobby", "namespace": "/chat"}
    ]
    alice.emit("close", "lobby", namespace="/chat")
    bob.emit("say", "lobby", "anyone?", namespace="/chat")
    assert alice.get_received("/chat") == []


def test_error_handler_answers_with_the_ack(chat: types.ModuleType) -> None:
    alice = connect(chat, "alice-token")
    assert alice.emit("boom", namespace="/chat", callback=True) == {
        "error": "kaboom",
        "event": "boom",
    }


def test_background_thread_emits(chat: types.ModuleType) -> None:
    alice = connect(chat, "alice-token")
    alice.get_received("/chat")
    alice.emit("start_ticker", 3, namespace="/chat")
    chat.thread.join(5)
    alice.emit("echo", "after", namespace="/chat")  # the ticks went to the loop first
    assert [m["name"] for m in alice.get_received("/chat")] == ["tick", "tick", "tick", "echo"]


def test_namespace_class(chat: types.ModuleType) -> None:
    one = chat.socketio.test_client(chat.app, namespace="/stats")
    two = chat.socketio.test_client(chat.app, namespace="/stats")
    assert one.get_received("/stats") == [
        {"name": "stats", "args": [{"seen": 1}], "namespace": "/stats"}
    ]
    two.get_received("/stats")
    assert one.emit("get", "k", namespace="/stats", callback=True) == {
        "key": "k",
        "sid": one.get_sid("/stats"),
    }
    one.emit("broadcast", [1, 2], namespace="/stats")
    for client in (one, two):
        assert client.get_received("/stats") == [
            {"name": "broadcast", "args": [[1, 2]], "namespace": "/stats"}
        ]


def test_disconnects(chat: types.ModuleType) -> None:
    alice, bob = connect(chat, "alice-token"), connect(chat, "bob-token")
    alice.emit("bye", namespace="/chat")
    assert not alice.is_connected("/chat")
    bob.disconnect(namespace="/chat")
    assert chat.app.config["LEFT"] == [
        ("alice", "server disconnect"),
        ("bob", "client disconnect"),
    ]


def test_http_routes_still_work(chat: types.ModuleType) -> None:
    assert chat.app.test_client().get("/").get_data(as_text=True) == "index"
