"""Class-based namespaces: on_<event> methods, their context, and the helper methods."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request, session

from flask_realtime import Namespace, SocketIO, emit


class Chat(Namespace):
    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.log: list[Any] = []

    def on_connect(self, auth: Any) -> None:
        self.log.append(("connect", request.sid, auth))
        session["nick"] = (auth or {}).get("nick", "anon")
        emit("welcome", session["nick"])

    def on_disconnect(self, reason: str) -> None:
        self.log.append(("disconnect", request.sid, reason))

    def on_say(self, text: str) -> str:
        self.emit("said", {"who": session["nick"], "text": text}, room="everyone")
        return "ok"

    def on_join(self) -> list[str]:
        self.enter_room(request.sid, "everyone")
        return self.rooms(request.sid)

    def on_leave(self) -> list[str]:
        self.leave_room(request.sid, "everyone")
        return self.rooms(request.sid)

    def on_shout(self, text: str) -> None:
        self.send(text, include_self=False)

    def on_close(self) -> None:
        self.close_room("everyone")

    def on_kick(self, sid: str) -> None:
        self.disconnect(sid)

    def on_ask(self) -> Any:
        return self.call("question", "q?", to=request.sid)

    async def on_async_echo(self, data: Any) -> Any:
        return {"echo": data, "sid": request.sid}


@pytest.fixture
def chat(flask_app: Flask) -> tuple[SocketIO, Chat]:
    socketio = SocketIO(flask_app)
    namespace = Chat("/chat")
    socketio.on_namespace(namespace)
    return socketio, namespace


def test_connect_and_disconnect_methods(flask_app: Flask, chat: tuple[SocketIO, Chat]) -> None:
    socketio, namespace = chat
    client = socketio.test_client(flask_app, namespace="/chat", auth={"nick": "ada"})
    sid = client.get_sid("/chat")
    assert client.get_received("/chat") == [
        {"name": "welcome", "args": ["ada"], "namespace": "/chat"}
    ]
    client.disconnect("/chat")
    assert namespace.log == [
        ("connect", sid, {"nick": "ada"}),
        ("disconnect", sid, "client disconnect"),
    ]


def test_event_methods_and_room_helpers(flask_app: Flask, chat: tuple[SocketIO, Chat]) -> None:
    socketio, _ = chat
    a = socketio.test_client(flask_app, namespace="/chat", auth={"nick": "a"})
    b = socketio.test_client(flask_app, namespace="/chat", auth={"nick": "b"})
    a.get_received("/chat")
    b.get_received("/chat")
    sid_a = a.get_sid("/chat")
    assert a.emit("join", namespace="/chat", callback=True) == [sid_a, "everyone"]
    assert b.emit("say", "hello", namespace="/chat", callback=True) == "ok"
    assert a.get_received("/chat") == [
        {"name": "said", "args": [{"who": "b", "text": "hello"}], "namespace": "/chat"}
    ]
    assert b.get_received("/chat") == []  # b is not in the room
    assert a.emit("leave", namespace="/chat", callback=True) == [sid_a]
    a.emit("join", namespace="/chat")
    b.emit("close", namespace="/chat")
    b.emit("say", "nobody", namespace="/chat")
    assert a.get_received("/chat") == []


def test_send_without_room_goes_to_the_namespace(
    flask_app: Flask, chat: tuple[SocketIO, Chat]
) -> None:
    socketio, _ = chat
    a = socketio.test_client(flask_app, namespace="/chat")
    b = socketio.test_client(flask_app, namespace="/chat")
    a.get_received("/chat")
    b.get_received("/chat")
    a.emit("shout", "hey", namespace="/chat")
    assert a.get_received("/chat") == []
    assert b.get_received("/chat") == [{"name": "message", "args": "hey", "namespace": "/chat"}]


def test_disconnect_and_call_helpers(flask_app: Flask, chat: tuple[SocketIO, Chat]) -> None:
    socketio, _ = chat
    a = socketio.test_client(flask_app, namespace="/chat")
    b = socketio.test_client(flask_app, namespace="/chat")
    a.on_call("question", lambda q: q + " 42", namespace="/chat")
    assert a.emit("ask", namespace="/chat", callback=True) == "q? 42"
    a.emit("kick", b.get_sid("/chat"), namespace="/chat")
    assert not b.is_connected("/chat")


def test_async_methods_run_with_the_request(flask_app: Flask, chat: tuple[SocketIO, Chat]) -> None:
    socketio, _ = chat
    client = socketio.test_client(flask_app, namespace="/chat")
    assert client.emit("async_echo", 5, namespace="/chat", callback=True) == {
        "echo": 5,
        "sid": client.get_sid("/chat"),
    }


def test_decorated_handler_wins_over_the_method(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("hello", namespace="/x")
    def decorated_first() -> str:
        return "decorated first"

    class X(Namespace):
        def on_hello(self) -> str:
            return "method"

        def on_bye(self) -> str:
            return "method bye"

    socketio.on_namespace(X("/x"))

    @socketio.on("bye", namespace="/x")
    def decorated_later() -> str:
        return "decorated later"

    client = socketio.test_client(flask_app, namespace="/x")
    assert client.emit("hello", namespace="/x", callback=True) == "decorated first"
    assert client.emit("bye", namespace="/x", callback=True) == "decorated later"


def test_methods_without_auth_or_reason(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    calls: list[str] = []

    class Plain(Namespace):
        def on_connect(self) -> None:
            calls.append("connect")

        def on_disconnect(self) -> None:
            calls.append("disconnect")

    socketio.on_namespace(Plain("/p"))
    client = socketio.test_client(flask_app, namespace="/p", auth={"x": 1})
    client.disconnect("/p")
    assert calls == ["connect", "disconnect"]


def test_namespace_registered_before_init_app(flask_app: Flask) -> None:
    socketio = SocketIO()

    class Early(Namespace):
        def on_ping(self) -> str:
            return "pong"

    socketio.on_namespace(Early())  # the default namespace
    socketio.init_app(flask_app)
    assert socketio.test_client(flask_app).emit("ping", callback=True) == "pong"


def test_unknown_events_are_ignored(flask_app: Flask, chat: tuple[SocketIO, Chat]) -> None:
    socketio, _ = chat
    client = socketio.test_client(flask_app, namespace="/chat")
    assert client.emit("no_such_method", namespace="/chat", callback=True) is None


def test_overridden_trigger_event_gets_flask_socketios_arguments(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    seen: list[Any] = []

    class Router(Namespace):
        def trigger_event(self, event: str, sid: str, *args: Any) -> Any:
            seen.append((event, sid, args))
            return f"routed {event}"

    socketio.on_namespace(Router("/r"))
    client = socketio.test_client(flask_app, namespace="/r", auth={"k": 1})
    sid = client.get_sid("/r")
    assert client.emit("anything", 1, 2, namespace="/r", callback=True) == "routed anything"
    client.disconnect("/r")
    (connect, *rest) = seen
    # connect: (sid, environ, auth), as python-socketio hands Flask-SocketIO's namespaces
    assert connect[0] == "connect"
    assert connect[1] == sid
    environ, auth = connect[2]
    assert environ["PATH_INFO"] == "/socket.io/"
    assert auth == {"k": 1}
    assert rest == [("anything", sid, (1, 2)), ("disconnect", sid, ("client disconnect",))]


def test_super_trigger_event_dispatches_to_the_methods(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    seen: list[Any] = []

    class Audited(Namespace):
        def trigger_event(self, event: str, sid: str, *args: Any) -> Any:
            seen.append(event)
            return super().trigger_event(event, sid, *args)

        def on_connect(self, auth: Any) -> None:
            seen.append(("auth", auth))

        def on_disconnect(self) -> None:  # takes no reason: it gets none
            seen.append("bye")

        def on_add(self, a: int, b: int) -> int:
            return a + b

    socketio.on_namespace(Audited("/a"))
    client = socketio.test_client(flask_app, namespace="/a", auth={"t": 1})
    assert client.emit("add", 2, 3, namespace="/a", callback=True) == 5
    assert client.emit("missing", namespace="/a", callback=True) == []  # an empty ack
    client.disconnect("/a")
    assert seen == [
        "connect", ("auth", {"t": 1}), "add", "missing", "disconnect", "bye",
    ]  # fmt: skip


def test_overridden_async_trigger_event(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    class Router(Namespace):
        async def trigger_event(self, event: str, sid: str, *args: Any) -> Any:  # type: ignore[override]
            return [event, sid == request.sid, *args]

    socketio.on_namespace(Router("/r"))
    client = socketio.test_client(flask_app, namespace="/r")
    assert client.emit("e", 1, namespace="/r", callback=True) == ["e", True, 1]


def test_handlers_lists_the_on_methods() -> None:
    assert sorted(Chat("/c").handlers()) == [
        "ask", "async_echo", "close", "connect", "disconnect", "join", "kick", "leave",
        "say", "shout",
    ]  # fmt: skip
