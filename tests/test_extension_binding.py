"""The SocketIO extension: the public API, binding to apps, and registration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flask import Flask, request

import flask_realtime
from extension_support import make_app
from flask_realtime import SocketIO
from flask_realtime.binding.service import STATE_KEY, AppService
from flask_realtime.exceptions import ConfigurationError, ContextError

# -- the public API ------------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert sorted(flask_realtime.__all__) == [
        "ConnectionRefusedError",
        "Namespace",
        "SocketIO",
        "SocketIOTestClient",
        "call",
        "close_room",
        "disconnect",
        "emit",
        "is_recovered",
        "join_room",
        "leave_room",
        "rate_limit",
        "rooms",
        "send",
        "socket_data",
    ]
    for name in flask_realtime.__all__:
        assert getattr(flask_realtime, name) is not None


def test_reason_constants_and_async_mode() -> None:
    assert SocketIO.reason.CLIENT_DISCONNECT == "client disconnect"
    assert SocketIO.reason.SERVER_DISCONNECT == "server disconnect"
    assert SocketIO.reason.PING_TIMEOUT == "ping timeout"
    assert SocketIO(make_app()).async_mode == "asyncio"


# -- binding -------------------------------------------------------------------------------


def test_socketio_app_binds_at_once(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    assert flask_app.extensions["socketio"] is socketio
    state = flask_app.extensions[STATE_KEY]
    assert isinstance(state, AppService)
    assert state.app is flask_app
    assert socketio.service_for(flask_app) is state


def test_app_factory_with_init_app() -> None:
    socketio = SocketIO(always_connect=True)

    @socketio.on("hello")
    def hello() -> str:
        return "from " + request.namespace

    def create_app() -> Flask:
        app = make_app()
        socketio.init_app(app)
        return app

    first, second = create_app(), create_app()
    assert socketio.service_for(first) is not socketio.service_for(second)
    for app in (first, second):
        client = socketio.test_client(app)
        assert client.emit("hello", callback=True) == "from /"


def test_server_options_can_be_read_and_changed_before_init_app() -> None:
    socketio = SocketIO(ping_interval=7)
    assert socketio.server_options == {"ping_interval": 7}
    # What Flask-SocketIO apps do before binding.
    socketio.server_options.pop("client_manager", None)
    socketio.server_options["ping_timeout"] = 3
    app = Flask("factory")
    socketio.init_app(app, cors_allowed_origins="*")
    options = socketio.service_for(app).options
    assert (options.engine.ping_interval, options.engine.ping_timeout) == (7, 3)
    assert socketio.server_options["cors_allowed_origins"] == "*"


def test_several_apps_have_separate_servers() -> None:
    socketio = SocketIO()
    one, two = make_app("one"), make_app("two")
    socketio.init_app(one)
    socketio.init_app(two)

    @socketio.on("where")
    def where() -> None:
        socketio.emit("here", request.sid)

    c1 = socketio.test_client(one)
    c2 = socketio.test_client(two)
    c1.emit("where")
    # socketio.emit without `to` reaches everyone, but only on the handler's own app.
    assert c1.get_received() == [{"name": "here", "args": [c1.sid], "namespace": "/"}]
    assert c2.get_received() == []


def test_several_socketio_objects_in_one_process() -> None:
    one, two = make_app("one"), make_app("two")
    s1, s2 = SocketIO(one), SocketIO(two)

    @s1.on("x")
    def x1() -> str:
        return "one"

    @s2.on("x")
    def x2() -> str:
        return "two"

    assert s1.test_client(one).emit("x", callback=True) == "one"
    assert s2.test_client(two).emit("x", callback=True) == "two"


def test_state_of_an_app_that_is_not_bound_is_an_error(flask_app: Flask) -> None:
    socketio = SocketIO()
    with pytest.raises(ContextError, match="init_app"):
        socketio.service_for(flask_app)
    with pytest.raises(ContextError, match="not bound"):
        socketio.emit("x")


def test_outside_any_context_the_last_bound_app_is_used() -> None:
    socketio = SocketIO()
    first, last = make_app("first"), make_app("last")
    socketio.init_app(first)
    socketio.init_app(last)
    assert socketio.service_for() is socketio.service_for(last)
    with first.app_context():
        assert socketio.service_for() is socketio.service_for(first)


# -- registration --------------------------------------------------------------------------


def test_on_event_event_and_event_with_namespace(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    def plain(data: Any) -> Any:
        return ["plain", data]

    socketio.on_event("plain", plain)

    @socketio.event
    def named(data: Any) -> Any:
        return ["named", data]

    @socketio.event(namespace="/chat")
    def chatty(data: Any) -> Any:
        return ["chatty", data]

    client = socketio.test_client(flask_app)
    client.connect("/chat")
    assert client.emit("plain", 1, callback=True) == ["plain", 1]
    assert client.emit("named", 2, callback=True) == ["named", 2]
    assert client.emit("chatty", 3, callback=True, namespace="/chat") == ["chatty", 3]
    # Decorators return the function unchanged.
    assert named(0) == ["named", 0]


def test_handlers_registered_after_init_app_serve_bound_apps(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)
    assert client.emit("late", callback=True) is None  # no handler yet: no ack

    @socketio.on("late")
    def late() -> str:
        return "here"

    assert client.emit("late", callback=True) == "here"


def test_non_callable_handlers_are_refused(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    with pytest.raises(ConfigurationError):
        socketio.on_event("x", "not a function")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        socketio.on_error()("nope")  # type: ignore[type-var]
    with pytest.raises(ConfigurationError):
        socketio.on_error_default(42)  # type: ignore[type-var]
    with pytest.raises(ConfigurationError, match="Namespace"):
        socketio.on_namespace(object())  # type: ignore[arg-type]


def test_on_error_handler_return_value_is_the_ack(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    seen: list[Any] = []

    @socketio.on("boom")
    def boom(data: Any) -> None:
        raise ValueError(f"bad {data}")

    @socketio.on_error()
    def on_error(exc: Exception) -> Any:
        seen.append((type(exc), str(exc), request.event, request.sid))
        return "handled"

    client = socketio.test_client(flask_app)
    assert client.emit("boom", 7, callback=True) == "handled"
    assert seen == [(ValueError, "bad 7", {"message": "boom", "args": (7,)}, client.sid)]


def test_on_error_per_namespace_and_default(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("boom", namespace="/a")
    def boom_a() -> None:
        raise KeyError("a")

    @socketio.on("boom", namespace="/b")
    def boom_b() -> None:
        raise KeyError("b")

    @socketio.on_error("/a")
    def error_a(exc: Exception) -> str:
        return "from /a handler"

    @socketio.on_error_default
    def error_default(exc: Exception) -> str:
        return f"default saw {request.namespace}"

    client = socketio.test_client(flask_app, namespace="/a")
    client.connect("/b")
    assert client.emit("boom", namespace="/a", callback=True) == "from /a handler"
    assert client.emit("boom", namespace="/b", callback=True) == "default saw /b"


def test_async_error_handler_for_async_handler(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("boom")
    async def boom() -> None:
        raise RuntimeError("async")

    @socketio.on_error_default
    async def handle(exc: Exception) -> str:
        await asyncio.sleep(0)
        return f"async handled {exc}"

    client = socketio.test_client(flask_app)
    assert client.emit("boom", callback=True) == "async handled async"
