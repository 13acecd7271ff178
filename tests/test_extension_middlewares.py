"""Node's programming model on SocketIO, Flask-style: ``socketio.use`` (connect
middlewares), ``socketio.before_event`` (event middlewares), ``socket_data``,
"disconnecting" and ``socketio.on_any_outgoing``, through the test client."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from flask import request, session

from extension_support import make_app
from flask_realtime import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    emit,
    join_room,
    rooms,
    socket_data,
)
from flask_realtime.exceptions import ConfigurationError, ContextError

# -- connect middlewares ----------------------------------------------------------------------


def test_a_middleware_sees_the_handshake_and_may_refuse_with_data() -> None:
    app = make_app()
    socketio = SocketIO(app)
    seen: list[Any] = []

    @socketio.use
    def check(auth: Any) -> None:
        seen.append((auth, request.args.get("room"), request.headers.get("X-Team"),
                     request.sid))  # fmt: skip
        if not auth or auth.get("token") != "good":
            raise ConnectionRefusedError("unauthorized", {"code": 401})

    connected: list[str] = []

    @socketio.on("connect")
    def on_connect() -> None:
        connected.append(request.sid)

    good = socketio.test_client(
        app, auth={"token": "good"}, query_string="room=7", headers={"X-Team": "blue"}
    )
    assert good.is_connected()
    assert seen[0][:3] == ({"token": "good"}, "7", "blue")
    assert seen[0][3] == good.sid == connected[0]
    bad = socketio.test_client(app, auth={"token": "bad"})
    assert not bad.is_connected()
    assert bad.connect_error == {"message": "unauthorized", "data": {"code": 401}}
    assert len(connected) == 1  # the connect handler never ran for the refused client


def test_middlewares_run_in_order_and_may_be_async() -> None:
    app = make_app()
    socketio = SocketIO(app)
    order: list[str] = []

    @socketio.use(namespace="/chat")
    def first() -> None:
        order.append(f"first {threading.current_thread() is not threading.main_thread()}")

    @socketio.use(namespace="/chat")
    async def second(auth: Any) -> None:
        await asyncio.sleep(0)
        order.append(f"second {auth}")

    @socketio.on("connect", namespace="/chat")
    def on_connect() -> None:
        order.append("connect")

    client = socketio.test_client(app, namespace="/chat", auth={"a": 1})
    assert client.is_connected("/chat")
    assert order == ["first True", "second {'a': 1}", "connect"]


def test_an_async_middleware_may_refuse_and_false_refuses_too() -> None:
    app = make_app()
    socketio = SocketIO(app)

    async def deny(auth: Any) -> None:
        raise ConnectionRefusedError("closed for maintenance")

    socketio.use(deny, namespace="/a")
    socketio.use(lambda: False, namespace="/b")
    client = socketio.test_client(app, namespace="/a")
    assert client.connect_error == {"message": "closed for maintenance"}
    client.connect("/b")
    assert not client.is_connected("/b")
    assert client.connect_error == {"message": "Connection rejected by server"}


def test_a_namespace_class_has_before_connect_and_before_event() -> None:
    app = make_app()
    socketio = SocketIO(app)
    log: list[Any] = []

    class Guarded(Namespace):
        def before_connect(self, auth: Any) -> None:
            if auth != {"ok": True}:
                raise ConnectionRefusedError("no")

        def before_event(self, event: str, *args: Any) -> None:
            log.append((event, args))
            if event == "secret":
                raise PermissionError("not for you")

        def on_echo(self, value: Any) -> Any:
            return value

        def on_secret(self) -> None:
            log.append("secret ran")

    socketio.on_namespace(Guarded("/g"))
    refused = socketio.test_client(app, namespace="/g")
    assert refused.connect_error == {"message": "no"}
    client = socketio.test_client(app, namespace="/g", auth={"ok": True})
    assert client.emit("echo", 5, namespace="/g", callback=True) == 5
    with pytest.raises(PermissionError):
        client.emit("secret", namespace="/g")
    assert log == [("echo", (5,)), ("secret", ())]


# -- event middlewares ------------------------------------------------------------------------


def test_an_event_middleware_runs_in_the_handlers_context_before_it() -> None:
    app = make_app()
    socketio = SocketIO(app)
    log: list[Any] = []

    @socketio.before_event
    def count(event: str, *args: Any) -> None:
        session["count"] = session.get("count", 0) + 1
        log.append((event, args, request.sid, session["count"]))

    @socketio.on("add")
    def add(a: int, b: int) -> int:
        log.append("add")
        return a + b

    client = socketio.test_client(app)
    assert client.emit("add", 1, 2, callback=True) == 3
    assert log == [("add", (1, 2), client.sid, 1), "add"]


def test_an_event_middleware_that_raises_drops_the_event_to_the_error_handler() -> None:
    app = make_app()
    socketio = SocketIO(app)
    handled: list[str] = []

    @socketio.before_event
    def only_logged_in(event: str, *args: Any) -> None:
        if event != "login" and not socket_data.get("user"):
            raise PermissionError(f"log in before {event}")

    @socketio.on_error()
    def error(exc: Exception) -> dict[str, str]:
        return {"error": str(exc)}

    @socketio.on("login")
    def login(name: str) -> str:
        socket_data["user"] = name
        return "ok"

    @socketio.on("post")
    def post(text: str) -> str:
        handled.append(text)
        return "posted"

    client = socketio.test_client(app)
    assert client.emit("post", "early", callback=True) == {"error": "log in before post"}
    assert handled == []
    assert client.emit("login", "ann", callback=True) == "ok"
    assert client.emit("post", "now", callback=True) == "posted"
    assert handled == ["now"]


def test_async_and_def_middlewares_mix_with_async_and_def_handlers() -> None:
    app = make_app()
    socketio = SocketIO(app)
    log: list[str] = []

    @socketio.before_event
    async def async_middleware(event: str, *args: Any) -> None:
        log.append(f"async mw {event}")

    @socketio.before_event
    def def_middleware(event: str, *args: Any) -> None:
        log.append(f"def mw {event}")

    @socketio.on("sync")
    def sync_handler() -> str:
        log.append("sync handler")
        return "s"

    @socketio.on("coro")
    async def coro_handler() -> str:
        log.append("coro handler")
        return "c"

    client = socketio.test_client(app)
    assert client.emit("sync", callback=True) == "s"
    assert client.emit("coro", callback=True) == "c"
    assert log == ["async mw sync", "def mw sync", "sync handler",
                   "async mw coro", "def mw coro", "coro handler"]  # fmt: skip


def test_a_non_callable_event_middleware_is_refused() -> None:
    socketio = SocketIO(make_app())
    with pytest.raises(ConfigurationError):
        socketio.before_event(42)  # type: ignore[call-overload]


# -- socket_data ----------------------------------------------------------------------------


def test_socket_data_belongs_to_one_socket_and_shows_in_fetch_sockets() -> None:
    app = make_app()
    socketio = SocketIO(app)

    @socketio.use
    def remember(auth: Any) -> None:
        socket_data["user"] = auth["user"]

    @socketio.on("whoami")
    def whoami() -> Any:
        socket_data["asked"] = socket_data.get("asked", 0) + 1
        return dict(socket_data)

    ann = socketio.test_client(app, auth={"user": "ann"})
    bob = socketio.test_client(app, auth={"user": "bob"})
    assert ann.emit("whoami", callback=True) == {"user": "ann", "asked": 1}
    assert ann.emit("whoami", callback=True) == {"user": "ann", "asked": 2}
    assert bob.emit("whoami", callback=True) == {"user": "bob", "asked": 1}
    with app.app_context():
        found = {s.sid: s.data for s in socketio.fetch_sockets()}
    assert found == {ann.sid: {"user": "ann", "asked": 2}, bob.sid: {"user": "bob", "asked": 1}}


def test_socket_data_outside_a_handler_names_the_fix() -> None:
    with pytest.raises(ContextError, match="fetch_sockets"):
        socket_data["x"] = 1


# -- disconnecting ----------------------------------------------------------------------------


def test_disconnecting_sees_the_rooms_before_disconnect() -> None:
    app = make_app()
    socketio = SocketIO(app)
    log: list[Any] = []

    @socketio.on("join")
    def join(room: str) -> None:
        join_room(room)

    @socketio.on("disconnecting")
    def disconnecting(reason: str) -> None:
        log.append(("disconnecting", reason, sorted(rooms())))

    @socketio.on("disconnect")
    def disconnect() -> None:
        log.append("disconnect")

    client = socketio.test_client(app)
    client.emit("join", "lobby")
    sid = client.sid
    client.disconnect()
    assert log == [("disconnecting", "client disconnect", sorted([sid, "lobby"])), "disconnect"]


# -- outgoing listeners -----------------------------------------------------------------------


def test_outgoing_listeners_see_every_event_sent_to_a_socket() -> None:
    app = make_app()
    socketio = SocketIO(app)
    seen: list[Any] = []

    @socketio.on_any_outgoing
    def spy(sid: str, event: str, *args: Any) -> None:
        seen.append((sid, event, args))

    @socketio.on("shout")
    def shout(text: str) -> None:
        emit("heard", text, broadcast=True)
        emit("echo", text)

    a = socketio.test_client(app)
    b = socketio.test_client(app)
    a.emit("shout", "hi")
    assert sorted(seen) == sorted(
        [(a.sid, "heard", ("hi",)), (b.sid, "heard", ("hi",)), (a.sid, "echo", ("hi",))]
    )
    assert [m["name"] for m in b.get_received()] == ["heard"]


@pytest.mark.parametrize("register", ["use", "before_event", "on_any_outgoing"])
def test_hooks_for_every_namespace_are_refused_with_the_fix(register: str) -> None:
    socketio = SocketIO(make_app())
    with pytest.raises(ConfigurationError, match="register them for each namespace"):
        getattr(socketio, register)(lambda *args: None, namespace="*")
