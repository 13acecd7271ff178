"""Handlers' context: the context-aware functions, request, session, and their arguments."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask, current_app, g, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

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


def names(received: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in received]


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


# -- request and app context ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["def", "async"])
def test_request_describes_the_client_and_event(
    flask_app: Flask, socketio: SocketIO, kind: str
) -> None:
    def describe(data: Any) -> dict[str, Any]:
        g.marker = "per-call"
        return {
            "sid": request.sid,
            "namespace": request.namespace,
            "event": [request.event["message"], list(request.event["args"])],
            "arg": request.args.get("room"),
            "header": request.headers.get("X-Client"),
            "cookie": request.cookies.get("flavour"),
            "app": current_app.name,
            "remote": request.remote_addr,
        }

    if kind == "def":
        socketio.on_event("describe", describe, namespace="/ns")
    else:

        async def describe_async(data: Any) -> dict[str, Any]:
            return describe(data)

        socketio.on_event("describe", describe_async, namespace="/ns")

    client = socketio.test_client(
        flask_app,
        namespace="/ns",
        query_string="room=42",
        headers={"X-Client": "yes", "Cookie": "flavour=lemon"},
    )
    assert client.emit("describe", 5, namespace="/ns", callback=True) == {
        "sid": client.get_sid("/ns"),
        "namespace": "/ns",
        "event": ["describe", [5]],
        "arg": "42",
        "header": "yes",
        "cookie": "lemon",
        "app": flask_app.name,
        "remote": "127.0.0.1",
    }


def test_g_is_fresh_for_each_event_and_url_for_works(flask_app: Flask, socketio: SocketIO) -> None:
    @flask_app.route("/page/<int:n>")
    def page(n: int) -> str:
        return str(n)

    @socketio.on("mark")
    def mark() -> list[Any]:
        before = getattr(g, "mark", None)
        g.mark = "set"
        return [before, url_for("page", n=3), request.event["message"]]

    client = socketio.test_client(flask_app)
    assert client.emit("mark", callback=True) == [None, "/page/3", "mark"]
    assert client.emit("mark", callback=True) == [None, "/page/3", "mark"]


def test_teardown_request_runs_after_each_handler(flask_app: Flask, socketio: SocketIO) -> None:
    torn: list[str] = []

    @flask_app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn.append(getattr(request, "event", {}).get("message", "?"))

    @socketio.on("connect")
    def connect() -> None:
        pass

    @socketio.on("one")
    def one() -> None:
        pass

    client = socketio.test_client(flask_app)
    client.emit("one")
    assert torn == ["connect", "one"]


# -- connect and disconnect handlers -------------------------------------------------------


def test_connect_handler_with_and_without_auth(flask_app: Flask, socketio: SocketIO) -> None:
    seen: list[Any] = []

    @socketio.on("connect")
    def with_auth(auth: Any) -> None:
        seen.append(("with", auth))

    @socketio.on("connect", namespace="/plain")
    def without_auth() -> None:
        seen.append(("without",))

    client = socketio.test_client(flask_app, auth={"token": "t"})
    client.connect("/plain", auth={"ignored": True})
    other = socketio.test_client(flask_app)
    assert client.is_connected()
    assert client.is_connected("/plain")
    assert other.is_connected()
    assert seen == [("with", {"token": "t"}), ("without",), ("with", None)]


def test_connect_handler_emits_arrive_after_the_connection(
    flask_app: Flask, socketio: SocketIO
) -> None:
    @socketio.on("connect")
    def connect() -> None:
        emit("welcome", request.sid)

    client = socketio.test_client(flask_app)
    assert client.get_received() == [{"name": "welcome", "args": [client.sid], "namespace": "/"}]


def test_connect_returning_false_refuses(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("connect")
    def connect(auth: Any) -> bool:
        return bool(auth)

    refused = socketio.test_client(flask_app)
    assert not refused.is_connected()
    assert refused.connect_error == {"message": "Connection rejected by server"}
    assert socketio.test_client(flask_app, auth={"ok": 1}).is_connected()


def test_disconnect_handler_with_and_without_reason(flask_app: Flask, socketio: SocketIO) -> None:
    seen: list[Any] = []

    @socketio.on("disconnect")
    def with_reason(reason: str) -> None:
        seen.append(("/", reason, request.sid))

    @socketio.on("disconnect", namespace="/plain")
    def without_reason() -> None:
        seen.append(("/plain", request.sid))

    @socketio.on("connect", namespace="/plain")
    def plain_connect() -> None:
        pass

    client = socketio.test_client(flask_app)
    client.connect("/plain")
    sid, plain_sid = client.sid, client.get_sid("/plain")
    client.disconnect("/plain")
    client.disconnect()
    assert seen == [("/plain", plain_sid), ("/", "client disconnect", sid)]


def test_catch_all_events_and_namespaces(flask_app: Flask, socketio: SocketIO) -> None:
    @socketio.on("*")
    def any_event(event: str, *args: Any) -> list[Any]:
        return ["any", event, list(args)]

    @socketio.on("ping", namespace="*")
    def ping_anywhere(data: Any) -> list[Any]:
        return ["ping", request.namespace, data]

    @socketio.on("*", namespace="*")
    def anything(event: str, data: Any) -> list[Any]:
        return ["anything", event, request.namespace, data]

    @socketio.on("connect", namespace="/x")
    def x_connect() -> None:
        pass

    client = socketio.test_client(flask_app)
    client.connect("/x")
    assert client.emit("whatever", 1, 2, callback=True) == ["any", "whatever", [1, 2]]
    assert client.emit("ping", 3, namespace="/x", callback=True) == ["ping", "/x", 3]
    assert client.emit("other", 4, namespace="/x", callback=True) == ["anything", "other", "/x", 4]


# -- the session ---------------------------------------------------------------------------


def test_managed_session_is_per_connection_and_seeded_from_flask(
    flask_app: Flask, socketio: SocketIO
) -> None:
    @flask_app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "ok"

    @socketio.on("whoami")
    def whoami() -> Any:
        return session.get("user")

    @socketio.on("rename")
    def rename(name: str) -> None:
        session["user"] = name

    http = flask_app.test_client()
    http.get("/login/ada")
    one = socketio.test_client(flask_app, flask_test_client=http)
    two = socketio.test_client(flask_app, flask_test_client=http)
    assert one.emit("whoami", callback=True) == "ada"
    one.emit("rename", "grace")
    assert one.emit("whoami", callback=True) == "grace"  # kept for the connection
    assert two.emit("whoami", callback=True) == "ada"  # another connection: its own copy
    with http.session_transaction() as cookie_session:
        assert cookie_session["user"] == "ada"  # the cookie is not changed by Socket.IO


def test_managed_session_is_shared_by_the_namespaces_of_a_connection(
    flask_app: Flask, socketio: SocketIO
) -> None:
    @socketio.on("set", namespace="/a")
    def set_value(value: str) -> None:
        session["v"] = value

    @socketio.on("get", namespace="/b")
    def get_value() -> Any:
        return session.get("v")

    client = socketio.test_client(flask_app, namespace="/a")
    client.connect("/b")
    client.emit("set", "shared", namespace="/a")
    assert client.emit("get", namespace="/b", callback=True) == "shared"


def test_unmanaged_session_is_flasks_own(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, manage_session=False)
    saved: list[Any] = []

    class Recording(SecureCookieSessionInterface):
        def save_session(self, app: Flask, session: Any, response: Any) -> None:
            saved.append(dict(session))
            super().save_session(app, session, response)

    flask_app.session_interface = Recording()

    @flask_app.route("/login")
    def login() -> str:
        session["user"] = "ada"
        return "ok"

    @socketio.on("whoami")
    def whoami() -> Any:
        return session.get("user")

    @socketio.on("touch")
    def touch() -> None:
        session["touched"] = True

    http = flask_app.test_client()
    http.get("/login")
    saved.clear()
    client = socketio.test_client(flask_app, flask_test_client=http)
    assert client.emit("whoami", callback=True) == "ada"
    assert saved == []  # not modified: not saved
    client.emit("touch")
    assert saved == [{"user": "ada", "touched": True}]


def test_catch_all_namespace_connect_and_disconnect_handlers_get_flask_socketio_arguments() -> None:
    # Handlers registered for every namespace get (auth) / (reason) as Flask-SocketIO
    # passes them; the namespace is in request.namespace, not in the arguments.
    app = Flask(__name__)
    socketio = SocketIO(app, namespaces="*")
    seen: list[tuple[str, object]] = []

    @socketio.on("connect", namespace="*")
    def on_connect(auth: object = None) -> None:
        seen.append((request.namespace, auth))

    @socketio.on("disconnect", namespace="*")
    def on_disconnect(reason: object = None) -> None:
        seen.append((request.namespace, reason))

    client = socketio.test_client(app, namespace="/chat", auth={"token": "t"})
    assert client.is_connected("/chat")
    client.disconnect(namespace="/chat")
    assert seen[0] == ("/chat", {"token": "t"})
    assert seen[1][0] == "/chat"
    assert seen[1][1] == "client disconnect"
