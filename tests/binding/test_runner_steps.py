"""The runner's per-event shortcuts keep what the long way did.

An ``async def`` handler runs in a task of its own (eager on Python 3.12+), in a
context of its own; a socket's app context is reused from event to event with a fresh
``g``. What these tests hold: context variables never leak out of a handler, a suspended
handler keeps its own, ``g`` is fresh per event and per concurrent call, a wrong
argument count, an exception and a suspension behave as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest
from flask import Flask, copy_current_request_context, g, request
from flask.globals import _cv_app, _cv_request

from flask_realtime import SocketIO, emit
from flask_realtime.binding.scope import (
    HandlerScope,
    current_scope,
    enter_context,
    leave_context,
    pop_context,
    push_context,
)
from flask_realtime.exceptions import ClientArgumentsError
from support.waiting import wait_until

_mark: contextvars.ContextVar[str] = contextvars.ContextVar("test_runner_steps_mark", default="")


def test_context_variables_an_async_handler_sets_stay_in_its_call(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("set")
    async def set_mark(value: str) -> str:
        before = _mark.get()
        _mark.set(value)  # finishes without suspending: the first step is the whole call
        return before

    @socketio.on("nap")
    async def nap(value: str) -> str:
        before = _mark.get()
        _mark.set(value)
        await asyncio.sleep(0.01)  # the rest runs in a task, in the same context
        return f"{before}|{_mark.get()}|{request.event['message']}"

    client = socketio.test_client(flask_app)
    # The first calls push the contexts, the later ones enter them (scope.enter_context).
    for value in "abcd":
        assert client.emit("set", value, callback=True) == ""  # nothing leaked
    assert client.emit("nap", "e", callback=True) == "|e|nap"
    assert client.emit("nap", "f", callback=True) == "|f|nap"
    assert client.emit("set", "g", callback=True) == ""  # nor did a suspended one


def test_g_is_fresh_for_every_event(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("async")
    async def on_async() -> list[Any]:
        seen = [g.get("count"), g.get("kind")]
        g.count = 1
        g.kind = "async"
        return seen

    @socketio.on("def")
    def on_def() -> list[Any]:
        seen = [g.get("count"), g.get("kind")]
        g.count = 2
        g.kind = "def"
        return seen

    client = socketio.test_client(flask_app)
    for event in ["async", "async", "def", "async", "def", "def"]:
        assert client.emit(event, callback=True) == [None, None]


def test_a_suspended_handler_keeps_its_g_while_other_events_of_its_socket_wait(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("hold")
    async def hold(value: str) -> str:
        g.value = value
        await asyncio.sleep(0.02)
        return str(g.value)

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    assert a.emit("hold", "one", callback=True) == "one"
    assert b.emit("hold", "two", callback=True) == "two"
    assert a.emit("hold", "three", callback=True) == "three"


def test_a_call_made_while_the_socket_context_is_in_use_gets_its_own_app_context(
    flask_app: Flask,
) -> None:
    # What an emit's callback does while the handler that emitted waits (callbacks run
    # outside the socket's lane): push_context for a socket whose context is pushed.
    socketio = SocketIO(flask_app)

    @socketio.on("ping")
    def ping() -> None:
        emit("pong")

    client = socketio.test_client(flask_app)
    assert client.emit("ping", callback=True) == []  # the socket's context exists now
    state = socketio.service_for(flask_app)
    socket = state.server.get_socket(client.sid, "/")
    assert socket is not None
    scope = HandlerScope(flask_app, state.ops, client.sid, "/", socket.eio.sid,
                         {}, "ping")  # fmt: skip
    cache = socket.data
    outer = push_context(scope, (), True, cache)
    outer_app = _cv_app.get()
    g.mine = "outer"
    inner = push_context(scope, (), True, cache)
    inner_app = _cv_app.get()
    assert inner_app is not outer_app
    assert g.get("mine") is None
    pop_context(inner, None)
    assert _cv_app.get() is outer_app
    assert g.mine == "outer"
    pop_context(outer, None)
    again = push_context(scope, (), True, cache)
    assert g.get("mine") is None  # the socket's app context again, with a fresh g
    pop_context(again, None)


def test_an_async_handler_with_the_wrong_argument_count_answers_the_error(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("one")
    async def one(value: int) -> int:
        return value

    client = socketio.test_client(flask_app)
    # The test client raises what a handler raised (the server answers the client's ack
    # with the error: tests/interop/test_client_mistakes.py).
    with pytest.raises(ClientArgumentsError, match="sent 2 arguments; the handler takes 1"):
        client.emit("one", 1, 2, callback=True)
    assert client.emit("one", 3, callback=True) == 3  # the socket carries on


def test_an_async_handlers_exception_reaches_the_error_handler_in_its_context(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app)
    seen: list[str] = []

    @socketio.on("fail_now")
    async def fail_now() -> None:
        raise ValueError("now")

    @socketio.on("fail_later")
    async def fail_later() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("later")

    @socketio.on_error()
    def on_error(exc: Exception) -> str:
        seen.append(request.sid)
        return f"error: {exc}"

    client = socketio.test_client(flask_app)
    assert client.emit("fail_now", callback=True) == "error: now"
    assert client.emit("fail_later", callback=True) == "error: later"
    assert seen == [client.sid, client.sid]


def test_nested_emits_and_acks_of_an_async_handler(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("fan")
    async def fan(count: int) -> int:
        for i in range(count):
            emit("item", i)
            if i == 1:
                await asyncio.sleep(0)  # suspends between emits: order is kept
        return count

    client = socketio.test_client(flask_app)
    assert client.emit("fan", 3, callback=True) == 3
    assert [m["args"] for m in client.get_received() if m["name"] == "item"] == [[0], [1], [2]]


def test_an_entered_context_has_everything_current_and_changes_nothing_outside(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("ping")
    def ping() -> None:
        g.left = "behind"

    client = socketio.test_client(flask_app)
    for _ in range(3):  # the first pushes whole, the second makes the app context
        client.emit("ping")
    state = socketio.service_for(flask_app)
    socket = state.server.get_socket(client.sid, "/")
    assert socket is not None
    cache = socket.data
    scope = HandlerScope(flask_app, state.ops, client.sid, "/", socket.eio.sid, {}, "ping")

    def inside() -> list[Any]:
        seen = [request.sid, request.event, g.get("left"), current_scope() is scope]
        g.left = "again"
        _mark.set("inside")
        return seen

    context = enter_context(scope, (1,), True, cache)
    assert context is not None
    assert enter_context(scope, (), True, cache) is None  # its app context is in use
    assert context.run(inside) == [client.sid, {"message": "ping", "args": (1,)}, None, True]
    leave_context(cache)
    assert _cv_request.get(None) is None
    assert current_scope() is None
    assert _mark.get() == ""
    again = enter_context(scope, (), True, cache)
    assert again is not None
    assert again.run(lambda: (g.get("left"), _mark.get())) == (None, "")
    leave_context(cache)
    assert enter_context(scope, (), False, cache) is None  # manage_session=False: pushed


def test_copy_current_request_context_works_in_entered_calls(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    seen: list[Any] = []

    def in_a_thread() -> None:
        @copy_current_request_context
        def work() -> None:
            seen.append((request.sid, request.event["message"], request.event["args"]))

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(5)

    @socketio.on("def")
    def on_def(n: int) -> None:
        in_a_thread()

    @socketio.on("async")
    async def on_async(n: int) -> None:
        in_a_thread()

    client = socketio.test_client(flask_app)
    for n in range(3):  # the first ones push, the later ones enter
        client.emit("def", n, callback=True)
        client.emit("async", n, callback=True)
    assert seen == [(client.sid, event, (n,)) for n in range(3) for event in ("def", "async")]


def test_the_first_step_runs_in_a_task(flask_app: Flask) -> None:
    """``asyncio.timeout()`` (as aiohttp's and anyio's timeouts) needs a current task: an
    ``async def`` handler has one from its first step, on every Python version."""
    socketio = SocketIO(flask_app)

    @socketio.on("timed")
    async def timed(n: int) -> list[Any]:
        async with asyncio.timeout(5):  # needs a task from the first step on
            return [asyncio.current_task() is not None, request.sid, g.get("seen"), n]

    client = socketio.test_client(flask_app)
    for n in range(3):  # pushed, then entered
        assert client.emit("timed", n, callback=True) == [True, client.sid, None, n]


def test_an_async_handler_waiting_on_what_only_it_holds_is_not_collected(
    flask_app: Flask,
) -> None:
    # The runner holds each async call's task through its job (the loop holds tasks only
    # weakly): a handler suspended on a future nothing else refers to must survive a
    # collection, and finish when the future is resolved.
    import gc
    import weakref

    socketio = SocketIO(flask_app)
    waiting: list[weakref.ref[asyncio.Future[str]]] = []

    @socketio.on("wait")
    async def wait() -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting.append(weakref.ref(future))
        return await future

    @socketio.on("release")
    async def release() -> bool:
        gc.collect()
        future = waiting[0]()
        if future is None:
            return False  # collected with its task
        future.set_result("released")
        return True

    waiter = socketio.test_client(flask_app)
    other = socketio.test_client(flask_app)
    answers: list[Any] = []
    # The test client's emit returns once the handler is done: the waiter's from a thread.
    thread = threading.Thread(target=lambda: answers.append(waiter.emit("wait", callback=True)))
    thread.start()
    try:
        wait_until(lambda: waiting, timeout=5)
        assert other.emit("release", callback=True) is True
    finally:
        thread.join(10)
    assert answers == ["released"]


def test_an_async_handlers_reply_goes_to_its_socket_without_a_lookup(
    flask_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # emit() to the sender from an async handler writes to the socket the handler's
    # scope refers to (OneSocketSends.emit_to_own), not by the sid (emit_to_socket).
    socketio = SocketIO(flask_app)

    @socketio.on("ping")
    async def ping(value: int) -> None:
        emit("pong", value + 1)

    client = socketio.test_client(flask_app)
    server = socketio.service_for(flask_app).server
    lookups: list[tuple[Any, ...]] = []
    by_sid = server.emit_to_socket  # the way that looks the socket up by its sid

    def counted(*args: Any) -> bool:
        lookups.append(args)
        return by_sid(*args)

    monkeypatch.setattr(server, "emit_to_socket", counted)
    client.emit("ping", 1)
    assert client.get_received() == [{"name": "pong", "args": [2], "namespace": "/"}]
    assert lookups == []


def test_a_def_handlers_reply_is_encoded_for_its_socket_without_a_lookup(
    flask_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # emit() to the sender from a def handler is encoded in the worker thread for the
    # socket the handler's scope refers to, and written to it on the loop: neither side
    # looks the socket up by its sid (get_socket).
    socketio = SocketIO(flask_app)

    @socketio.on("ping")
    def ping(value: int) -> None:
        emit("pong", value + 1)

    client = socketio.test_client(flask_app)
    server = socketio.service_for(flask_app).server
    lookups: list[tuple[Any, ...]] = []
    by_sid = server.get_socket

    def counted(*args: Any) -> Any:
        lookups.append(args)
        return by_sid(*args)

    monkeypatch.setattr(server, "get_socket", counted)
    client.emit("ping", 1)
    client.emit("ping", 2)
    assert client.get_received() == [
        {"name": "pong", "args": [2], "namespace": "/"},
        {"name": "pong", "args": [3], "namespace": "/"},
    ]
    assert lookups == []


def test_a_reply_spreads_a_tuple_and_drops_none_as_before(flask_app: Flask) -> None:
    # emit() to the sender spreads its data inline (python-socketio's rule, spread()).
    socketio = SocketIO(flask_app)

    @socketio.on("go")
    async def go() -> None:
        emit("pair", (1, 2))
        emit("nothing", None)
        emit("list", [1, 2])
        emit("two", None, 3)

    client = socketio.test_client(flask_app)
    client.emit("go")
    assert [(m["name"], m["args"]) for m in client.get_received()] == [
        ("pair", [1, 2]),
        ("nothing", []),
        ("list", [[1, 2]]),
        ("two", [None, 3]),
    ]
