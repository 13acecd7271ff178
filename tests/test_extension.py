"""The SocketIO extension: binding to apps, registration, and the socketio.* operations."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request

import flask_realtime
from flask_realtime import Namespace, SocketIO, emit
from flask_realtime.app_state import STATE_KEY, AppState
from flask_realtime.exceptions import (
    CallTimeoutError,
    ConfigurationError,
    ContextError,
    DisconnectedError,
)
from flask_realtime.test_client import SocketIOTestClient

WaitUntil = Callable[..., None]


def make_app(name: str = "app") -> Flask:
    app = Flask(name)
    app.config["SECRET_KEY"] = "secret"
    return app


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
        "join_room",
        "leave_room",
        "rooms",
        "send",
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
    assert isinstance(state, AppState)
    assert state.app is flask_app
    assert socketio.state(flask_app) is state


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
    assert socketio.state(first) is not socketio.state(second)
    for app in (first, second):
        client = socketio.test_client(app)
        assert client.emit("hello", callback=True) == "from /"


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
        socketio.state(flask_app)
    with pytest.raises(ContextError, match="not bound"):
        socketio.emit("x")


def test_outside_any_context_the_last_bound_app_is_used() -> None:
    socketio = SocketIO()
    first, last = make_app("first"), make_app("last")
    socketio.init_app(first)
    socketio.init_app(last)
    assert socketio.state() is socketio.state(last)
    with first.app_context():
        assert socketio.state() is socketio.state(first)


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


# -- background tasks and sleep ------------------------------------------------------------


def test_background_thread_task_joins(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    out: list[Any] = []
    task = socketio.start_background_task(lambda x, y=0: out.append(x + y), 1, y=2)
    task.join(5)
    assert not task.is_alive()
    assert out == [3]


def test_background_async_task_runs_on_the_loop(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    loop_threads: list[str] = []

    async def work(n: int) -> None:
        await socketio.sleep(0)
        loop_threads.append(threading.current_thread().name)

    task = socketio.start_background_task(work, 1)
    task.join(5)
    assert not task.is_alive()
    assert loop_threads == ["flask-realtime-loop"]


def test_background_tasks_can_be_awaited_from_async_handlers(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    results: list[str] = []

    async def coroutine_task() -> None:
        await asyncio.sleep(0)
        results.append("coroutine")

    def thread_task() -> None:
        results.append("thread")

    @socketio.on("run")
    async def run_both() -> list[str]:
        await socketio.start_background_task(coroutine_task)
        await socketio.start_background_task(thread_task)
        return results

    client = socketio.test_client(flask_app)
    assert client.emit("run", callback=True) == ["coroutine", "thread"]


def test_background_thread_emits_to_clients(flask_app: Flask, wait_until: WaitUntil) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)

    def ticker() -> None:
        for i in range(3):
            socketio.emit("tick", i)
            socketio.sleep(0)

    socketio.start_background_task(ticker).join(5)
    client.emit("noop")
    assert [m["args"] for m in client.get_received()] == [[0], [1], [2]]


def test_sleep_blocks_a_thread_and_is_awaitable_on_a_loop() -> None:
    socketio = SocketIO()
    start = time.monotonic()
    socketio.sleep(0.02)
    assert time.monotonic() - start >= 0.02

    async def on_loop() -> float:
        begin = time.monotonic()
        await socketio.sleep(0.02)
        return time.monotonic() - begin

    assert asyncio.run(on_loop()) >= 0.02


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
