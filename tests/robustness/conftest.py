"""The served app, its two good clients and the log watch, one world per test module.

One server of the app (``world``), and one built as if orjson were not installed
(``plain_world``), each started once per module, so that a module whose attacks leave a
server loaded (floods, slow readers) cannot cascade into the next; the ``w`` and
``either`` fixtures hand them to a test with a clean log, after checking that they still
serve. When a world stops, nothing of the attacks may have reached its good clients."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import socketio as pysio
from flask import Flask

from flask_realtime import SocketIO, emit, join_room, rooms
from flask_realtime.binding.service import AppService
from flask_realtime.runtime.http.server import Server
from support.recorder import Recorder
from support.waiting import wait_until

from .support import EVIL, MAX_PAYLOAD, PING_INTERVAL, PING_TIMEOUT, PROMPT, TIMEOUT

# -- the app ---------------------------------------------------------------------------------


def make_app(seen: Recorder, name: str, **options: Any) -> tuple[Flask, SocketIO]:
    app = Flask(name)
    socketio = SocketIO(
        app,
        max_http_buffer_size=MAX_PAYLOAD,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        **options,
    )

    @socketio.on("connect")
    def on_connect(auth: Any) -> None:
        seen.record_request("connect", auth)

    @socketio.on("disconnect")
    def on_disconnect(reason: str) -> None:
        seen.record_request("disconnect", str(reason))

    @socketio.on("echo")
    def on_echo(*args: Any) -> tuple[Any, ...]:
        seen.record_request("echo", list(args))
        return args

    @socketio.on("broadcast")
    def on_broadcast(data: Any) -> None:
        seen.record_request("broadcast", data)
        emit("news", data, broadcast=True, include_self=False)

    @socketio.on("join")
    def on_join(room: str) -> str:
        seen.record_request("join", room)
        join_room(room)
        return room

    @socketio.on("rooms")
    def on_rooms() -> list[str]:
        return sorted(rooms())

    @socketio.on("limited", rate_limit=(3, 60))  # 3 a minute per connection
    def on_limited(data: Any) -> Any:
        seen.record_request("limited", data)
        return data

    @socketio.on("fail")
    def on_fail(data: Any) -> str:
        seen.record_request("fail", data)
        raise RuntimeError("this handler fails on purpose")

    @socketio.on("emit-unserialisable")
    def on_emit_unserialisable(data: Any) -> None:
        seen.record_request("emit-unserialisable", data)
        emit("reply", {"thing": object()})

    @socketio.on("return-unserialisable")
    def on_return_unserialisable(data: Any) -> object:
        seen.record_request("return-unserialisable", data)
        return object()

    @socketio.on("emit-lone-surrogate")
    def on_emit_lone_surrogate(data: Any) -> None:
        seen.record_request("emit-lone-surrogate", data)
        emit("news", "\ud800", broadcast=True)  # a str that no UTF-8 text can carry

    @socketio.on("async-emit-unserialisable")
    async def on_async_emit_unserialisable(data: Any) -> None:
        seen.record_request("async-emit-unserialisable", data)
        emit("reply", {1, 2, 3})

    @socketio.on("echo", namespace="/chat")
    def on_chat_echo(*args: Any) -> tuple[Any, ...]:
        seen.record_request("chat-echo", list(args))
        return args

    return app, socketio


# -- watching our logs -----------------------------------------------------------------------


class LogWatch(logging.Handler):
    """Keeps the records of the loggers it is attached to, from the threads of one server
    (its loop's and its handlers'), whichever thread they come from."""

    def __init__(self, *thread_prefixes: str) -> None:
        super().__init__(logging.DEBUG)
        self.prefixes = thread_prefixes
        self._guard = threading.Lock()
        self._unchecked: list[logging.LogRecord] = []
        self._all: list[logging.LogRecord] = []
        self._mark = 0

    def emit(self, record: logging.LogRecord) -> None:
        if not (record.threadName or "").startswith(self.prefixes):
            return  # another server of this module
        with self._guard:
            self._unchecked.append(record)
            self._all.append(record)

    def take(self) -> list[logging.LogRecord]:
        """The records not yet checked."""
        with self._guard:
            records, self._unchecked = self._unchecked, []
        return records

    def start_test(self) -> None:
        with self._guard:
            self._unchecked = []
            self._mark = len(self._all)

    def this_test(self) -> list[logging.LogRecord]:
        """Every record since the test started, checked or not."""
        with self._guard:
            return self._all[self._mark :]


def is_alarm(record: logging.LogRecord) -> bool:
    """An ERROR (or worse), or any record with a traceback."""
    return record.levelno >= logging.ERROR or record.exc_info is not None


# -- well-behaved clients --------------------------------------------------------------------


class Good:
    """A python-socketio client that keeps everything it receives."""

    def __init__(self, name: str, transport: str) -> None:
        self.name = name
        self.transport = transport
        self.http = requests.Session()
        self.sio = pysio.Client(http_session=self.http, handle_sigint=False, reconnection=False)
        self._cond = threading.Condition()
        self.received: list[tuple[str, tuple[Any, ...]]] = []
        self.disconnected: list[Any] = []
        self.sid: str | None = None
        self.sio.on("*", self._on_any)
        self.sio.on("disconnect", self._on_disconnect)

    def _on_any(self, event: str, *args: Any) -> None:
        with self._cond:
            self.received.append((event, args))
            self._cond.notify_all()

    def _on_disconnect(self, *reason: Any) -> None:
        with self._cond:
            self.disconnected.append(reason)

    def connect(self, url: str) -> Good:
        self.sio.connect(url, transports=[self.transport], wait_timeout=TIMEOUT)
        self.sid = self.sio.sid
        return self

    def wait_for(self, event: str, data: Any, timeout: float = PROMPT) -> float:
        """Seconds until ``event`` with ``data`` arrived; fail after ``timeout``."""
        start = time.monotonic()
        with self._cond:
            wait_until(
                lambda: (event, (data,)) in self.received,
                timeout,
                f"{self.name} to get {event!r} {data!r}",
                condition=self._cond,
            )
        return time.monotonic() - start

    def everything(self) -> str:
        with self._cond:
            return repr(self.received)

    def close(self) -> None:
        try:
            self.sio.disconnect()
        finally:
            self.http.close()


# -- the world: server, good clients, checks --------------------------------------------------


class World:
    """The served app, its two good clients and the log watch, shared by the package."""

    def __init__(self, name: str, *, orjson: bool = True, **options: Any) -> None:
        self.seen = Recorder(timeout=TIMEOUT)
        with pytest.MonkeyPatch.context() as patch:
            if not orjson:  # as installed without the orjson extra: the stdlib's json
                patch.setitem(sys.modules, "orjson", None)
            self.app, self.socketio = make_app(self.seen, name, **options)
        self.state: AppService = self.socketio.service_for(self.app)
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name=f"{name}-loop", daemon=True)
        self.logs = LogWatch(self.thread.name, f"flask-realtime-{name}-")  # loop, handlers
        self.good: list[Good] = []

    def _run(self) -> None:
        try:
            self.socketio.run(self.app, host="127.0.0.1", port=0, debug=False, use_reloader=False)
        except BaseException as exc:
            self.error.append(exc)

    @property
    def server(self) -> Server:
        server = self.state.host.server
        assert server is not None, "the server is not running"
        return server

    @property
    def port(self) -> int:
        return self.server.port

    def sessions(self) -> int:
        """Open Engine.IO sessions (a len() of the engine's table, read from this thread)."""
        return len(self.state.engine.sessions)

    def start(self) -> None:
        self.thread.start()
        if not self.state.host.started.wait(10):
            raise RuntimeError(f"the server did not start: {self.error}")
        url = self.server.url
        self.good = [Good("A", "websocket").connect(url), Good("B", "polling").connect(url)]

    def stop(self) -> None:
        try:
            for good in self.good:
                good.close()
        finally:
            self.socketio.stop()
            self.thread.join(15)
        assert not self.thread.is_alive(), "socketio.run() did not return after stop()"
        assert not self.error, self.error

    # -- the checks after every attack ----------------------------------------------------

    def check(self, expected_alarms: Callable[[logging.LogRecord], bool] | None = None) -> None:
        """(a) the server serves, (b) no attack data reached anyone, (d) no alarm logged.

        ``expected_alarms`` accepts the ERROR records that the test provoked on purpose (a
        handler's own failure); every other alarm fails the test.
        """
        assert not self.error, self.error
        assert self.thread.is_alive(), "the server thread ended"
        a, b = self.good
        for good in self.good:
            assert good.sio.connected, f"{good.name} was disconnected: {good.disconnected}"
            assert good.sio.sid == good.sid, f"{good.name} is on another session now"
            token = f"echo-{uuid.uuid4().hex}"
            start = time.monotonic()
            assert good.sio.call("echo", token, timeout=TIMEOUT) == token
            elapsed = time.monotonic() - start
            assert elapsed < PROMPT, f"{good.name}'s echo took {elapsed:.2f} s"
        for sender, receiver in ((a, b), (b, a)):
            token = f"news-{uuid.uuid4().hex}"
            sender.sio.emit("broadcast", token)
            receiver.wait_for("news", token)
        for good in self.good:
            assert EVIL not in good.everything(), f"attack data reached {good.name}"
        reached = [item for item in self.seen.snapshot() if EVIL in repr(item.data)]
        allowed = {"connect", "disconnect", "fail", "emit-unserialisable",
                   "return-unserialisable", "async-emit-unserialisable",
                   "emit-lone-surrogate"}  # fmt: skip
        assert not [r for r in reached if r.kind not in allowed], reached
        alarms = [r for r in self.logs.take() if is_alarm(r)]
        unexpected = [r for r in alarms if expected_alarms is None or not expected_alarms(r)]
        assert not unexpected, "\n".join(
            f"{r.name} {r.levelname}: {r.getMessage()}" for r in unexpected
        )


@contextlib.contextmanager
def serving(world: World) -> Iterator[World]:
    """Start ``world`` with its log watch; stop it at the end."""
    watched = [logging.getLogger("flask_realtime"), logging.getLogger("asyncio")]
    ours = watched[0]
    old_level = ours.level
    ours.setLevel(logging.INFO)  # INFO lines are allowed; seeing them tells us what happened
    for logger in watched:
        logger.addHandler(world.logs)
    try:
        world.start()
        yield world
        for good in world.good:  # at the end of it all: nothing leaked, nobody dropped
            assert EVIL not in good.everything(), f"attack data reached {good.name}"
            assert not good.disconnected, f"{good.name} was disconnected: {good.disconnected}"
        world.check()
        world.stop()
    finally:
        for logger in watched:
            logger.removeHandler(world.logs)
        ours.setLevel(old_level)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with serving(World("robustness")) as world:
        yield world


@pytest.fixture(scope="module")
def plain_world() -> Iterator[World]:
    """The same app where orjson is not installed (it is an extra): the stdlib's json."""
    with serving(World("robustness_plain", orjson=False)) as world:
        yield world


@pytest.fixture(params=["orjson", "stdlib-json"])
def either(request: pytest.FixtureRequest) -> World:
    """Each world in turn, with a clean log and a good start."""
    world: World = request.getfixturevalue("world" if request.param == "orjson" else "plain_world")
    world.check()
    world.logs.start_test()
    return world


@pytest.fixture
def w(world: World) -> World:
    """The world, with a clean log and a good start."""
    world.check()
    world.logs.start_test()
    return world


def log_lines(world: World) -> list[str]:
    """What our server logged during this test."""
    return [r.getMessage() for r in world.logs.this_test() if r.name.startswith("flask_realtime")]
