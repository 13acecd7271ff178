"""An ``async def`` event middleware of a ``def`` handler, handed to the loop from the
worker thread while the loop is busy (the test holds it): it starts in order after what
the thread handed the loop before, and in its own client's context, whoever woke the
loop. Through the test client, with the real runner, worker pool and bridge."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import request

from extension_support import make_app
from flask_realtime import SocketIO, emit
from flask_realtime.binding.bridge import DRAIN_MAX
from flask_realtime.binding.service import AppService
from support.waiting import wait_until


def _waits_on_a_future(thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked in a ``Future.result`` (what it handed the loop)."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "result" and "futures" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _app_workers() -> list[threading.Thread]:
    """The worker threads of the test app's pool (``make_app``'s app is named "app")."""
    return [t for t in threading.enumerate() if t.name.startswith("flask-realtime-app")]


def _wait_for_the_middleware(workers: list[threading.Thread]) -> None:
    wait_until(lambda: any(_waits_on_a_future(t) for t in workers), what="the middleware")


@contextmanager
def _loop_held(service: AppService, *let_go: threading.Event) -> Iterator[None]:
    """The app's loop kept busy inside the block, so that what threads hand it piles up;
    on the way out it is released and ``let_go`` set (no handler waits for ever)."""
    loop = service.bridge.loop
    assert loop is not None
    busy, release = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        assert release.wait(10)

    try:
        loop.call_soon_threadsafe(hold)
        assert busy.wait(10)
        yield
    finally:
        release.set()
        for event in let_go:
            event.set()


def _joined(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_an_async_middleware_of_a_def_handler_starts_after_the_previous_events_emits() -> None:
    """A worker runs a client's next ``def`` event right after the previous one (its lane);
    that event's ``async def`` middleware must reach the loop behind the emits the previous
    handler made, even while they wait behind a backlog of several of the bridge's parts."""
    app = make_app()
    socketio = SocketIO(app)
    started, go = threading.Event(), threading.Event()
    burst = 3 * DRAIN_MAX

    @socketio.before_event
    async def announce(event: str, *args: Any) -> None:
        if event == "second":
            emit("middleware")

    @socketio.on("first")
    def first() -> None:
        started.set()
        assert go.wait(10)
        for i in range(burst):
            emit("burst", i)

    @socketio.on("second")
    def second() -> None:
        pass

    client = socketio.test_client(app)
    first_emit = threading.Thread(target=client.emit, args=("first",))
    first_emit.start()
    assert started.wait(10)
    workers = _app_workers()
    second_emit = threading.Thread(target=client.emit, args=("second",))
    second_emit.start()
    service = socketio.service_for(app)
    lanes = service.runner._lanes
    wait_until(lambda: any(lane for lane in list(lanes.values())), what="second in the lane")
    with _loop_held(service, go):  # the burst piles up as a backlog
        go.set()
        # The worker ran "first", went on to "second" and waits for its middleware.
        _wait_for_the_middleware(workers)
    _joined([first_emit, second_emit])
    names = [(p["name"], p["args"]) for p in client.get_received()]
    assert names == [*(("burst", [i]) for i in range(burst)), ("middleware", [])]


def test_an_async_middleware_sees_its_own_client_when_another_clients_thread_woke_the_loop() -> (
    None
):
    """The loop runs a batch of thread calls in the context of the thread that woke it:
    client A's handler emits first, then client B's worker hands over B's ``async def``
    middleware in the same batch. The middleware must run as B's (its ``request.sid``, and
    its emit to B), not as A's."""
    app = make_app()
    socketio = SocketIO(app)
    go_a, go_b, a_emitted = threading.Event(), threading.Event(), threading.Event()
    a_started, b_started = threading.Event(), threading.Event()
    seen: list[str] = []

    @socketio.before_event
    def wait_for_b(event: str, *args: Any) -> None:
        if event == "b":
            b_started.set()
            assert go_b.wait(10)

    @socketio.before_event
    async def record(event: str, *args: Any) -> None:
        if event == "b":
            seen.append(request.sid)
            emit("recorded")

    @socketio.on("a")
    def on_a() -> None:
        a_started.set()
        assert go_a.wait(10)
        emit("from_a")  # wakes the held loop: the batch runs in A's context
        a_emitted.set()

    @socketio.on("b")
    def on_b() -> None:
        pass

    client_a, client_b = socketio.test_client(app), socketio.test_client(app)
    threads = [
        threading.Thread(target=client_a.emit, args=("a",)),
        threading.Thread(target=client_b.emit, args=("b",)),
    ]
    for thread in threads:
        thread.start()
    # Both threads inside the handler's call (whatever it asks the loop first is done).
    assert a_started.wait(10)
    assert b_started.wait(10)
    workers = _app_workers()
    with _loop_held(socketio.service_for(app), go_a, go_b):
        go_a.set()
        assert a_emitted.wait(10)
        go_b.set()
        _wait_for_the_middleware(workers)
    _joined(threads)
    assert seen == [client_b.get_sid()]
    assert [p["name"] for p in client_b.get_received()] == ["recorded"]
    assert [p["name"] for p in client_a.get_received()] == ["from_a"]
