"""Robustness: hostile input against a served app, while two well-behaved clients watch.

The project rule under test (``shared/DESIGN.md``, "Errors and safety"): bad input gets a
clear error and harms nobody else. One Flask app with ``SocketIO`` (echo, broadcast,
rooms) is served by ``socketio.run()`` on a loopback port for the whole module; two
python-socketio clients stay connected throughout, one on WebSocket and one on long-polling.
Each test attacks the server from a third client over raw sockets and then checks, through
:meth:`World.check`, that

(a) the server still serves: both good clients, still on their first session, exchange an
    echo and a broadcast promptly;
(b) nothing the attacker sent reached them, nor any handler (attack data carry ``EVIL``);
(c) the attacker got the protocol's answer where one is due (the test itself asserts it:
    400 with a JSON body, 413, a WebSocket close code, CONNECT_ERROR);
(d) our server logged no ERROR and no traceback for it (the ``flask_realtime`` and
    ``asyncio`` loggers are watched; INFO lines are fine). Only a handler's own failure is
    an ERROR, and the tests that provoke one say so.

A second server of the same app, built as if orjson (an optional extra) were not
installed, runs the tests where the JSON library matters (``either`` fixture).

Timing: the heartbeat is short (1 s interval, 2 s timeout) so that abandoned sessions are
reclaimed within a test; every wait has a deadline. Known weaknesses that are not fixed yet
are strict ``xfail`` tests: they fail, and their reason says why, until the fix lands.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request

from flask_realtime import SocketIO, emit, join_room
from flask_realtime.app_state import AppState
from flask_realtime.runtime.server import Server
from runtime.httpkit import RawHttpClient, RawResponse

pysio = pytest.importorskip("socketio")
requests = pytest.importorskip("requests")

MAX_PAYLOAD = 64 * 1024
"""``max_http_buffer_size`` of the app: a POST body and a WebSocket message, at most."""
PING_INTERVAL = 1.0
PING_TIMEOUT = 2.0
REAPED = PING_INTERVAL + PING_TIMEOUT + 3.0
"""Long enough for the heartbeat to close a silent session, with slack for a busy machine."""
PROMPT = 2.0
"""A healthy round trip on a loaded two-core machine takes milliseconds; this is the bound."""
TIMEOUT = 5.0
EVIL = "EVIL"
"""Every attack payload carries this marker; it must never reach a good client or handler."""

WS_CONT, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# -- the app ---------------------------------------------------------------------------------


class Seen:
    """What the server's handlers saw: ``(kind, sid, data)``, in order (any thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.items: list[tuple[str, str, Any]] = []

    def add(self, kind: str, data: Any) -> None:
        with self._cond:
            self.items.append((kind, request.sid, data))
            self._cond.notify_all()

    def wait_for(self, kind: str, sid: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item_kind, item_sid, data in self.items:
                    if item_kind == kind and item_sid == sid:
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"the server saw no {kind!r} from {sid} within {timeout} s")
                self._cond.wait(left)

    def snapshot(self) -> list[tuple[str, str, Any]]:
        with self._cond:
            return list(self.items)


def make_app(seen: Seen, name: str) -> tuple[Flask, SocketIO]:
    app = Flask(name)
    socketio = SocketIO(
        app,
        max_http_buffer_size=MAX_PAYLOAD,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
    )

    @socketio.on("connect")
    def on_connect(auth: Any) -> None:
        seen.add("connect", auth)

    @socketio.on("disconnect")
    def on_disconnect(reason: str) -> None:
        seen.add("disconnect", str(reason))

    @socketio.on("echo")
    def on_echo(*args: Any) -> tuple[Any, ...]:
        seen.add("echo", list(args))
        return args

    @socketio.on("broadcast")
    def on_broadcast(data: Any) -> None:
        seen.add("broadcast", data)
        emit("news", data, broadcast=True, include_self=False)

    @socketio.on("join")
    def on_join(room: str) -> str:
        seen.add("join", room)
        join_room(room)
        return room

    @socketio.on("fail")
    def on_fail(data: Any) -> str:
        seen.add("fail", data)
        raise RuntimeError("this handler fails on purpose")

    @socketio.on("emit-unserialisable")
    def on_emit_unserialisable(data: Any) -> None:
        seen.add("emit-unserialisable", data)
        emit("reply", {"thing": object()})

    @socketio.on("return-unserialisable")
    def on_return_unserialisable(data: Any) -> object:
        seen.add("return-unserialisable", data)
        return object()

    @socketio.on("emit-lone-surrogate")
    def on_emit_lone_surrogate(data: Any) -> None:
        seen.add("emit-lone-surrogate", data)
        emit("news", "\ud800", broadcast=True)  # a str that no UTF-8 text can carry

    @socketio.on("async-emit-unserialisable")
    async def on_async_emit_unserialisable(data: Any) -> None:
        seen.add("async-emit-unserialisable", data)
        emit("reply", {1, 2, 3})

    @socketio.on("echo", namespace="/chat")
    def on_chat_echo(*args: Any) -> tuple[Any, ...]:
        seen.add("chat-echo", list(args))
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
        deadline = start + timeout
        with self._cond:
            while (event, (data,)) not in self.received:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{self.name} got no {event!r} {data!r} within {timeout} s")
                self._cond.wait(left)
        return time.monotonic() - start

    def everything(self) -> str:
        with self._cond:
            return repr(self.received)

    def close(self) -> None:
        try:
            self.sio.disconnect()
        finally:
            self.http.close()


# -- raw attackers ---------------------------------------------------------------------------


class Closed(Exception):
    """The server closed the WebSocket: ``code`` from its close frame, None without one."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed by the server (code {code})")
        self.code = code


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


class RawWebSocket:
    """A WebSocket client on a plain socket that sends whatever frames a test asks for.

    ``status`` is the handshake's status (101 when accepted); ``body`` the body of a refusal.
    """

    def __init__(
        self, port: int, query: str = "EIO=4&transport=websocket", *, rcvbuf: int | None = None
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._buf = bytearray()
        try:
            if rcvbuf is not None:  # before connect, so that the window stays small
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(TIMEOUT)
            self.sock.connect(("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            self.sock.sendall(
                f"GET /socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            deadline = time.monotonic() + TIMEOUT
            head = self._read_until(b"\r\n\r\n", deadline).decode("latin-1")
            self.status = int(head.split(" ", 2)[1])
            self.body = b""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    self.body = self._read_exactly(int(value), deadline)
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> RawWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- bytes -------------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing from the server in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except TimeoutError:
            raise TimeoutError("nothing from the server in time") from None
        if not data:
            raise Closed(None)
        self._buf += data

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        while (index := self._buf.find(marker)) < 0:
            self._fill(deadline)
        out = bytes(self._buf[: index + len(marker)])
        del self._buf[: index + len(marker)]
        return out

    def _read_exactly(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._fill(deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(
        self,
        opcode: int,
        payload: bytes,
        *,
        fin: bool = True,
        mask: bool = True,
        length: int | None = None,
    ) -> None:
        """One frame; ``length`` announces another length than the payload's."""
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | opcode])
        bit = 0x80 if mask else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 65536:
            head += bytes([bit | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([bit | 127]) + n.to_bytes(8, "big")
        if mask:
            key = os.urandom(4)
            head += key
            payload = _mask(payload, key)
        self.send_raw(head + payload)

    def send(self, packet: str | bytes) -> None:
        """One Engine.IO packet: text for ``str``, binary for ``bytes``."""
        if isinstance(packet, str):
            self.send_frame(WS_TEXT, packet.encode())
        else:
            self.send_frame(WS_BINARY, packet)

    def read_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        b0, b1 = self._read_exactly(2, deadline)
        assert not b1 & 0x80, "the server masked a frame"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read_exactly(2, deadline), "big")
        elif n == 127:
            n = int.from_bytes(self._read_exactly(8, deadline), "big")
        return b0 & 0x0F, self._read_exactly(n, deadline)

    def recv(self, timeout: float = TIMEOUT, *, answer_pings: bool = True) -> str | bytes:
        """The next Engine.IO packet, answering heartbeat pings on the way (unless not
        ``answer_pings``: then they are skipped, and the heartbeat will end the session).

        Raises:
            Closed: the server closed the connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            opcode, data = self.read_frame(deadline - time.monotonic())
            if opcode == WS_TEXT:
                text = data.decode()
                if text == "2":
                    if answer_pings:
                        self.send("3")
                    continue
                return text
            if opcode == WS_BINARY:
                return data
            if opcode == WS_CLOSE:
                raise Closed(int.from_bytes(data[:2], "big") if len(data) >= 2 else None)
            if opcode == WS_PING:
                self.send_frame(WS_PONG, data)

    def expect_close(self, timeout: float = TIMEOUT, *, answer_pings: bool = True) -> int | None:
        """The close code the server sends (None: it dropped the connection without one),
        skipping whatever comes first; fail if it does not close within ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.recv(deadline - time.monotonic(), answer_pings=answer_pings)
        except Closed as closed:
            return closed.code
        except TimeoutError:
            pytest.fail(f"the server did not close the WebSocket within {timeout} s")

    def stays_open(self, seconds: float) -> None:
        """Read (and skip) packets for ``seconds``; fail if the server closes meanwhile."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.recv(max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            return
        except Closed as closed:
            pytest.fail(f"the server closed the connection ({closed.code})")


def open_socketio(
    port: int, namespace: str = "/", *, rcvbuf: int | None = None
) -> tuple[RawWebSocket, str]:
    """A raw WebSocket connected to ``namespace``: the socket and its Socket.IO sid."""
    ws = RawWebSocket(port, rcvbuf=rcvbuf)
    try:
        assert ws.status == 101, ws.body
        opened = ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        prefix = "40" if namespace == "/" else f"40{namespace},"
        ws.send(prefix)
        reply = ws.recv()
        assert isinstance(reply, str)
        assert reply.startswith(prefix + "{"), reply
        return ws, json.loads(reply[len(prefix) :])["sid"]
    except BaseException:
        ws.close()
        raise


class RawPolling:
    """A long-polling Engine.IO client on :class:`RawHttpClient` (one request at a time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.http = RawHttpClient(port)
        self.http.request("GET", self.target(None))
        response = self.http.read_response()
        assert response.status == 200, response.body
        opened = response.body.decode()
        assert opened.startswith("0{"), opened
        self.sid: str = json.loads(opened[1:])["sid"]

    def __enter__(self) -> RawPolling:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def target(self, sid: str | None) -> str:
        query = "EIO=4&transport=polling" + (f"&sid={sid}" if sid is not None else "")
        return f"/socket.io/?{query}"

    def get(self, sid: str | None = None, timeout: float = TIMEOUT) -> RawResponse:
        self.http.request("GET", self.target(self.sid if sid is None else sid))
        return self.http.read_response(timeout=timeout)

    def post(self, body: bytes, sid: str | None = None) -> RawResponse:
        self.http.request(
            "POST",
            self.target(self.sid if sid is None else sid),
            "Content-Type: text/plain;charset=UTF-8",
            body=body,
        )
        return self.http.read_response()


def json_error(response: RawResponse, status: int) -> dict[str, Any]:
    """The JSON body of an error response with ``status``."""
    assert response.status == status, (response.status, response.body)
    assert (response.header("content-type") or "").startswith("application/json")
    body = json.loads(response.body)
    assert isinstance(body, dict)
    assert "code" in body, body
    assert body.get("message"), body
    return body


# -- the world: server, good clients, checks --------------------------------------------------


class World:
    """The served app, its two good clients and the log watch, shared by the module."""

    def __init__(self, name: str, *, orjson: bool = True) -> None:
        self.seen = Seen()
        with pytest.MonkeyPatch.context() as patch:
            if not orjson:  # as installed without the orjson extra: the stdlib's json
                patch.setitem(sys.modules, "orjson", None)
            self.app, self.socketio = make_app(self.seen, name)
        self.state: AppState = self.socketio.state(self.app)
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
        reached = [item for item in self.seen.snapshot() if EVIL in repr(item[2])]
        allowed = {"connect", "disconnect", "fail", "emit-unserialisable",
                   "return-unserialisable", "async-emit-unserialisable",
                   "emit-lone-surrogate"}  # fmt: skip
        assert not [r for r in reached if r[0] not in allowed], reached
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


# -- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03EVIL\r\n\r\n",  # a TLS ClientHello
        b"\x00\x01\x02EVIL\xff\xfe\r\n\r\n",
        b"EVIL /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\n\r\n",  # unknown method
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nEVIL\r\n\r\n",  # no colon
        b"GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\nContent-Length: EVIL\r\n\r\n",
        b"GET EVIL HTTP/1.1\r\nHost: x\r\n\r\n",  # not a path
    ],
    ids=["tls", "binary", "method", "header", "content-length", "target"],
)
def test_garbage_instead_of_http(w: World, garbage: bytes) -> None:
    with RawHttpClient(w.port) as client:
        client.send(garbage)
        json_error(client.read_response(), 400)
        assert client.wait_closed(TIMEOUT), "the connection stayed open after garbage"
    w.check()


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("X-Evil: " + "E" * (80 * 1024), 431),  # one huge header (limit 64 KiB)
        ("\r\n".join(f"X-Evil-{i}: EVIL" for i in range(150)), 431),  # too many headers
    ],
    ids=["huge-header", "header-count"],
)
def test_huge_request_head(w: World, head: str, status: int) -> None:
    with RawHttpClient(w.port) as client:
        client.send(
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
            + f"{head}\r\n\r\n".encode()
        )
        json_error(client.read_response(), status)
        assert client.wait_closed(TIMEOUT)
    w.check()


def test_huge_request_target(w: World) -> None:
    with RawHttpClient(w.port) as client:
        client.request("GET", "/socket.io/?EIO=4&transport=polling&evil=" + "E" * 10_000)
        json_error(client.read_response(), 414)
        assert client.wait_closed(TIMEOUT)
    w.check()


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/socket.io/?EIO=9&transport=polling", 5),  # unsupported protocol version
        ("/socket.io/?transport=polling", 5),
        ("/socket.io/?EIO=4&transport=EVIL", 0),  # unknown transport
        ("/socket.io/?EIO=4&transport=polling&sid=EVIL", 1),  # unknown sid
        ("/socket.io/?EIO=4&transport=polling&sid=" + "%FF%00" * 500, 1),
        ("/socket.io/?EIO=4&transport=websocket", 3),  # websocket without an upgrade
    ],
)
def test_bad_engineio_requests_get_a_json_400(w: World, target: str, code: int) -> None:
    with RawHttpClient(w.port) as client:
        client.request("GET", target)
        assert json_error(client.read_response(), 400)["code"] == code
    w.check()


def test_post_without_a_session_and_odd_methods(w: World) -> None:
    with RawHttpClient(w.port) as client:
        client.request("POST", "/socket.io/?EIO=4&transport=polling", body=b"4EVIL")
        assert json_error(client.read_response(), 400)["code"] == 2  # bad handshake method
    with RawPolling(w.port) as attacker:
        attacker.http.request("PUT", attacker.target(attacker.sid), body=b"4EVIL")
        assert json_error(attacker.http.read_response(), 400)["code"] == 3
    w.check()


# -- polling: oversized and invalid payloads -------------------------------------------------


def test_post_over_max_http_buffer_size_closes_the_session(w: World) -> None:
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        body = (b'42["echo","' + EVIL.encode() * (MAX_PAYLOAD // 4) + b'"]')[: MAX_PAYLOAD + 100]
        error = json_error(attacker.post(body), 400)
        assert "max_http_buffer_size" in error["message"]
        assert json_error(attacker.get(), 400)["code"] == 1  # the session is gone
    w.check()


def test_post_body_announced_too_large_gets_413(w: World) -> None:
    with RawPolling(w.port) as attacker:
        attacker.http.send(
            f"POST {attacker.target(attacker.sid)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {50 * MAX_PAYLOAD}\r\n\r\n".encode()
        )
        json_error(attacker.http.read_response(), 413)  # before any of the body was sent
        assert attacker.http.wait_closed(TIMEOUT)
    w.check()


def test_chunked_post_streaming_past_the_limit_gets_413(w: World) -> None:
    with RawPolling(w.port) as attacker:
        attacker.http.send(
            f"POST {attacker.target(attacker.sid)} HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"E" * 16 * 1024)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(40):  # 640 KiB, five times the limit (with framing allowance)
                attacker.http.send(chunk)
        json_error(attacker.http.read_response(), 413)
    w.check()


@pytest.mark.parametrize(
    "body",
    [
        b"9EVIL",  # unknown packet type
        b"4EVIL\x1e",  # an empty packet after the separator
        b"\xff\xfeEVIL",  # not UTF-8
        b"bEVIL!!!",  # bad base64
        b"4EVIL\x1e" * 20_000,  # more packets than max_payload_packets (and over the size)
    ],
    ids=["type", "empty", "utf8", "base64", "count"],
)
def test_invalid_engineio_payload_over_polling(w: World, body: bytes) -> None:
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        connected = attacker.get().body.decode()
        sid = json.loads(connected[2:])["sid"]
        json_error(attacker.post(body), 400)
        assert json_error(attacker.get(), 400)["code"] == 1
        assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


@pytest.mark.parametrize(
    "body", [b"0EVIL", b"5", b"6\x1e0{}"], ids=["open", "upgrade", "noop-open"]
)
def test_unexpected_engineio_packet_over_polling(w: World, body: bytes) -> None:
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        sid = json.loads(attacker.get().body.decode()[2:])["sid"]
        attacker.post(body)  # well-formed, but not a packet a client sends
        assert json_error(attacker.get(), 400)["code"] == 1
        assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


# -- WebSocket: frames -----------------------------------------------------------------------


@pytest.mark.parametrize("packet", ["9EVIL", "", "0EVIL", "5"], ids=["type", "empty", "open", "up"])
def test_invalid_engineio_packet_over_websocket(w: World, packet: str) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        assert ws.expect_close() in (1000, 1007)
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_frame_over_the_size_limit(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL', length=MAX_PAYLOAD + 1)
        assert ws.expect_close() == 1009  # message too big
    w.seen.wait_for("disconnect", sid)
    with RawWebSocket(w.port) as ws:  # an absurd announced length
        ws.recv()
        ws.send_frame(WS_BINARY, b"EVIL", length=2**62)
        assert ws.expect_close() == 1009
    w.check()


def test_unmasked_client_frame(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL"]', mask=False)
        assert ws.expect_close() == 1002  # protocol error
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_invalid_utf8_in_a_text_frame(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL\xff\xfe"]')
        assert ws.expect_close() == 1007  # invalid frame payload data
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_fragmented_message_never_finished(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_TEXT, b'42["echo","EVIL', fin=False)
        w.check()  # the others go on meanwhile
        # The attacker answers no ping (a pong would be a frame inside the fragmented
        # message): the heartbeat ends the session.
        start = time.monotonic()
        assert ws.expect_close(REAPED, answer_pings=False) is not None
        assert time.monotonic() - start < REAPED
    assert w.seen.wait_for("disconnect", sid) == "ping timeout"
    w.check()


def test_fragments_adding_up_past_the_limit(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        piece = b"E" * (16 * 1024)
        ws.send_frame(WS_TEXT, b'42["echo","' + piece, fin=False)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(8):  # 128 KiB in all: twice the limit
                ws.send_frame(WS_CONT, piece, fin=False)
        assert ws.expect_close() == 1009
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_continuation_without_a_start(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send_frame(WS_CONT, b'42["echo","EVIL"]')
        assert ws.expect_close() == 1002
    w.seen.wait_for("disconnect", sid)
    w.check()


# -- Socket.IO packets -----------------------------------------------------------------------

FATAL_PACKETS = {
    "bad-json": '42["echo","EVIL"',
    "event-not-array": '42{"EVIL":1}',
    "event-name-not-string": '42[1,"EVIL"]',
    "empty-event": "42[]",
    "null-payload": "42null",
    "unknown-type": "49EVIL",
    "thousand-attachments": '451000-["echo",{"_placeholder":true,"num":0},"EVIL"]',
    "bad-attachment-count": '45x-["echo","EVIL"]',
    "negative-ack-id": '42-1["echo","EVIL"]',
    "huge-ack-id": "42" + "9" * 40 + '["echo","EVIL"]',
    "namespace-without-slash": '42chat,["echo","EVIL"]',
    "connect-without-slash": "40chat,",
    "reserved-connect": '42["connect","EVIL"]',
    "reserved-disconnect": '42["disconnect","EVIL"]',
    "reserved-connect-error": '42["connect_error","EVIL"]',
    "second-connect": "40",
    "client-connect-error": '44{"message":"EVIL"}',
    "disconnect-with-data": '41"EVIL"',
    "connect-with-string-auth": '40/chat,"EVIL"',
    "deep-nesting": '42["echo",' + "[" * 30_000 + '"EVIL"' + "]" * 30_000 + "]",
    "ack-not-array": '431{"EVIL":1}',
}


@pytest.mark.parametrize("packet", FATAL_PACKETS.values(), ids=FATAL_PACKETS.keys())
def test_invalid_socketio_packet_closes_the_attacker(w: World, packet: str) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    assert any("closing" in line for line in log_lines(w))  # a log line says why
    w.check()


BINARY_ABUSE = {
    "binary-without-header": [b"EVIL"],
    "placeholder-out-of-range": ['451-["echo",{"_placeholder":true,"num":5}]', b"EVIL"],
    "text-while-attachments-due": ['452-["echo",{"_placeholder":true,"num":0}]', b"E", "42[]"],
    "placeholder-num-not-int": ['451-["echo",{"_placeholder":true,"num":"0"}]', b"EVIL"],
}


@pytest.mark.parametrize("packets", BINARY_ABUSE.values(), ids=BINARY_ABUSE.keys())
def test_binary_attachment_abuse(w: World, packets: list[str | bytes]) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        for packet in packets:
            ws.send(packet)
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_attachments_announced_and_never_sent(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send('455-["echo",{"_placeholder":true,"num":0},"EVIL"]')
        ws.send(b"E")  # one of five
        w.check()  # the server waits for the rest; nobody else does
        ws.stays_open(0.3)
        ws.send('421["echo","EVIL"]')  # text while four attachments are due
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_connect_to_an_unknown_namespace_gets_connect_error(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send("40/nowhere,")
        assert ws.recv() == '44/nowhere,{"message":"Invalid namespace"}'
        ws.send('42/nowhere,["echo","EVIL"]')  # not joined: dropped
        ws.send('421["echo","still here"]')  # the connection goes on
        assert ws.recv() == '431["still here"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


@pytest.mark.parametrize(
    "packet",
    [
        '43999["EVIL"]',  # an ack nobody waits for
        '42["no such event","EVIL"]',  # no handler
        '42/chat,["echo","EVIL"]',  # a namespace the client did not join
        "41/chat,",  # leaving a namespace it is not in
    ],
    ids=["stray-ack", "no-handler", "not-joined", "stray-disconnect"],
)
def test_harmless_oddities_are_dropped(w: World, packet: str) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        ws.send('427["echo","still here"]')
        assert ws.recv() == '437["still here"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_largest_ack_id_is_answered(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send('429999999999999999["echo","ok"]')  # 16 digits: exact in JavaScript
        assert ws.recv() == '439999999999999999["ok"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


# -- handlers that fail ----------------------------------------------------------------------


def handler_failure(event: str) -> Callable[[logging.LogRecord], bool]:
    """The one ERROR a failing handler may log: it names its handler, with a traceback."""

    def expected(record: logging.LogRecord) -> bool:
        return (
            record.name.startswith("flask_realtime")
            and f"{event!r}" in record.getMessage()
            and record.exc_info is not None
        )

    return expected


@pytest.mark.parametrize(
    "event",
    [
        "fail",
        "emit-unserialisable",
        "return-unserialisable",
        "async-emit-unserialisable",
        "emit-lone-surrogate",
    ],
)
def test_failing_handler_harms_nobody(either: World, event: str) -> None:
    w = either
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(f'421["{event}","EVIL"]')
        w.seen.wait_for(event, sid)
        ws.send('422["echo","still here"]')  # the client goes on
        before_echo = []
        while (packet := ws.recv()) != '432["still here"]':
            before_echo.append(packet)
        # What failed sent nothing; a handler that returned (its emit failed later, on
        # the loop) is acknowledged with no value.
        assert before_echo in ([], ["431[]"])
    w.seen.wait_for("disconnect", sid)
    deadline = time.monotonic() + TIMEOUT
    while not any(handler_failure(event)(r) for r in w.logs.this_test()):
        assert time.monotonic() < deadline, "a handler's failure should be logged for its developer"
        time.sleep(0.01)
    w.check(expected_alarms=handler_failure(event))


# -- slow readers and floods -----------------------------------------------------------------


def test_client_that_never_reads_is_dropped(w: World) -> None:
    """A WebSocket client joins a busy room and stops reading: the server must let go of it,
    and of what it buffered for it, without slowing the others down."""
    before = w.server.connection_count
    attacker, sid = open_socketio(w.port, rcvbuf=4096)
    with attacker:
        attacker.send('420["join","firehose"]')
        assert attacker.recv() == '430["firehose"]'
        blob = "E" * (64 * 1024)
        count = 480  # 30 MiB: past the 16 MiB a client may leave unread, and kernel buffers
        stop = threading.Event()
        failures: list[BaseException] = []

        def flood() -> None:
            try:
                with w.app.app_context():
                    for _ in range(count):
                        if stop.is_set():
                            return
                        w.socketio.emit("firehose", blob, to="firehose")
            except BaseException as exc:
                failures.append(exc)

        flooder = threading.Thread(target=flood, name="flood", daemon=True)
        deadline = time.monotonic() + 20
        flooder.start()
        try:
            while True:
                w.check()  # (a): prompt echoes and broadcasts while the flood runs
                if not flooder.is_alive() or time.monotonic() > deadline:
                    break
            flooder.join(max(0.0, deadline - time.monotonic()))
        finally:
            stop.set()
        assert not failures, failures
        assert not flooder.is_alive()
        # Dropped by flow control (not by the heartbeat), and the connection released
        # although the client never read: a polite close would wait for it forever.
        assert w.seen.wait_for("disconnect", sid) == "transport error"
        deadline = time.monotonic() + TIMEOUT
        while w.server.connection_count > before:
            assert time.monotonic() < deadline, (
                "the server still holds the connection of a client that does not read "
                "(and the data it buffered for it)"
            )
            time.sleep(0.02)
    assert any("too slowly" in line for line in log_lines(w))
    w.check()


def test_flood_of_abandoned_handshakes(w: World) -> None:
    before = w.sessions()
    sids: set[str] = set()
    clients = [RawHttpClient(w.port) for _ in range(3)]
    try:
        for i in range(300):
            client = clients[i % 3]
            client.request("GET", "/socket.io/?EIO=4&transport=polling")
            response = client.read_response()
            assert response.status == 200
            sids.add(json.loads(response.body[1:])["sid"])
    finally:
        for client in clients:
            client.close()
    for _ in range(50):  # and WebSockets, dropped without a close frame
        with RawWebSocket(w.port) as ws:
            opened = ws.recv()
            assert isinstance(opened, str)
            sids.add(json.loads(opened[1:])["sid"])
    assert len(sids) == 350  # all distinct
    assert all(len(sid) >= 20 for sid in sids)
    w.check()  # the server serves while 300 sessions wait for their heartbeat
    deadline = time.monotonic() + REAPED
    while w.sessions() > before:
        assert time.monotonic() < deadline, f"{w.sessions() - before} sessions not reclaimed"
        time.sleep(0.05)
    w.check()


def test_ping_flood_from_a_client_that_never_reads(w: World) -> None:
    """WebSocket pings make the server write pongs; a client that sends them and reads
    nothing must not make it buffer without bound, nor keep the connection once the
    heartbeat has ended the session."""
    before = w.server.connection_count
    attacker, sid = open_socketio(w.port, rcvbuf=4096)
    with attacker:
        ping = bytes([0x80 | WS_PING, 0x80 | 125]) + bytes(4) + b"E" * 125  # zero mask
        burst = ping * 512  # 67 KiB of pings
        sent = 0
        attacker.sock.settimeout(0.5)
        deadline = time.monotonic() + 3
        with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError):
            while time.monotonic() < deadline:
                attacker.sock.sendall(burst)
                sent += len(burst)
        # The server stopped reading once its replies backed up.
        assert sent < 64 * 1024 * 1024, f"the server read {sent} bytes of pings unanswered"
        w.check()
        assert w.seen.wait_for("disconnect", sid, timeout=REAPED) == "ping timeout"
        deadline = time.monotonic() + TIMEOUT
        while w.server.connection_count > before:
            assert time.monotonic() < deadline, (
                "the server still holds the connection after its session ended"
            )
            time.sleep(0.02)
    w.check()


def test_polling_client_that_never_polls_is_dropped(w: World) -> None:
    """The polling twin of :func:`test_client_that_never_reads_is_dropped`: a session that
    joins a busy room and stops polling should be dropped once its queue passes a bound,
    as a WebSocket is, not hold everything until its heartbeat times out."""
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        sid = json.loads(attacker.get().body.decode()[2:])["sid"]
        attacker.post(b'420["join","firehose"]')
        assert b'430["firehose"]' in attacker.get().body
        blob = "E" * (64 * 1024)
        with w.app.app_context():
            for _ in range(480):  # 30 MiB queued for a client that does not ask for it
                w.socketio.emit("firehose", blob, to="firehose")
        w.check()
        reason = w.seen.wait_for("disconnect", sid, timeout=REAPED)
    w.check()
    assert reason == "transport error", f"dropped for {reason!r}, not for its queue"


def test_flood_of_events_from_one_client(w: World) -> None:
    """One client sends events as fast as it can: its events queue behind each other (one
    client's are handled in order), not in front of everyone else's."""
    ws, sid = open_socketio(w.port)
    with ws:
        burst = b"".join(
            bytes([0x80 | WS_TEXT, 0x80 | len(p)]) + bytes(4) + p  # zero mask: as is
            for p in [f'42["echo","flood {i}"]'.encode() for i in range(20_000)]
        )
        ws.send_raw(burst)
        start = time.monotonic()
        w.check()  # prompt, while the server works through the flood
        ws.send('421["echo","last"]')
        while ws.recv(TIMEOUT) != '431["last"]':  # after all 20 000, in order
            pass
        elapsed = time.monotonic() - start
    w.seen.wait_for("disconnect", sid)
    flood = [item for item in w.seen.snapshot() if item[1] == sid and item[0] == "echo"]
    assert [item[2] for item in flood[:3]] == [["flood 0"], ["flood 1"], ["flood 2"]]
    assert len(flood) == 20_001, elapsed
    w.check()


# -- text that Python cannot encode, and the legacy protocol --------------------------------


LONE_SURROGATES = {
    "broadcast": '42["broadcast","\\ud800EVIL"]',
    "echo": '421["echo",{"EVIL":"\\udc00"}]',
}


@pytest.mark.parametrize("packet", LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys())
def test_lone_surrogate_escape(either: World, packet: str) -> None:
    """JSON may escape a lone UTF-16 surrogate (``"\\ud800"``); Python can decode it into a
    ``str`` but not encode that ``str`` as UTF-8 again. The decoder must refuse it (orjson
    does), or the reply, or a broadcast to everyone, fails later on the loop."""
    w = either
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"99999999999999999999999:4EVIL", "text/plain;charset=UTF-8"),  # huge length
        (b'40:42["echo","EVIL"]', "text/plain;charset=UTF-8"),  # longer than the data
        (b"x:4EVIL", "text/plain;charset=UTF-8"),
        (b"-1:4EVIL", "text/plain;charset=UTF-8"),
        (b"\x00" + b"\x09" * 30 + b"\xff4EVIL", "application/octet-stream"),  # huge length
        (b"\x07\x05\xff4EVIL", "application/octet-stream"),  # not a 0/1 marker
    ],
    ids=["huge-length", "short-data", "not-a-length", "negative", "binary-huge", "binary-kind"],
)
def test_invalid_engineio3_payload(w: World, body: bytes, content_type: str) -> None:
    """The same over Engine.IO 3 (socket.io 2.x clients), whose payloads are framed with
    lengths: a lying length is a 400 and the end of the session, not a crash or a hang."""
    with RawHttpClient(w.port) as http:
        http.request("GET", "/socket.io/?EIO=3&transport=polling")
        opened = http.read_response()
        assert opened.status == 200
        sid = json.loads(opened.body[opened.body.index(b"{") : opened.body.index(b"}") + 1])["sid"]
        target = f"/socket.io/?EIO=3&transport=polling&sid={sid}"
        http.request("POST", target, f"Content-Type: {content_type}", body=body)
        json_error(http.read_response(), 400)
        http.request("GET", target)
        assert json_error(http.read_response(), 400)["code"] == 1
    w.check()


def test_invalid_socketio4_packets_over_engineio3_websocket(w: World) -> None:
    for packet in ['42["connect","EVIL"]', "40/chat?%ZZ=%%EVIL&&=,", '45x-["EVIL"]']:
        with RawWebSocket(w.port, "EIO=3&transport=websocket") as ws:
            opened = ws.recv()
            assert isinstance(opened, str)
            assert opened.startswith("0{")
            assert ws.recv() == "40"  # v3: the server joins "/" unasked
            ws.send(packet)
            if packet.startswith("40/chat"):  # a query string is data, whatever it holds
                assert ws.recv() == "40/chat,"
                continue
            ws.expect_close()
    w.check()


# -- session ids -----------------------------------------------------------------------------


def test_unknown_sid_over_websocket(w: World) -> None:
    with RawWebSocket(w.port, "EIO=4&transport=websocket&sid=EVIL") as ws:
        assert ws.status == 400
        assert json.loads(ws.body)["code"] == 1
    w.check()


def test_socketio_sid_is_not_a_session_id(w: World) -> None:
    """Apps show ``request.sid`` to others (rooms, presence lists); it must not be a key to
    the connection, which the Engine.IO sid is."""
    good_a = w.good[0]
    public = good_a.sio.get_sid("/")  # python-socketio: .sid is the Engine.IO one
    with RawHttpClient(w.port) as client:
        client.request("GET", f"/socket.io/?EIO=4&transport=polling&sid={public}")
        assert json_error(client.read_response(), 400)["code"] == 1
    with RawWebSocket(w.port, f"EIO=4&transport=websocket&sid={public}") as ws:
        assert ws.status == 400
    assert good_a.sio.get_sid("/") != good_a.sio.eio.sid
    w.check()


def test_another_clients_session_id_over_polling(w: World) -> None:
    """Engine.IO session ids are bearer capabilities (120 random bits): whoever holds one
    may poll that session. What the server must do is what Engine.IO prescribes: a GET
    while the owner's GET is parked is an overlap, answered 400, and the session ends
    (its owner learns of it); a GET between the owner's polls takes what was queued."""
    with RawPolling(w.port) as victim, RawPolling(w.port) as thief:
        victim.post(b"40")
        assert victim.get().body.startswith(b"40{")
        # Between the owner's polls: the holder of the sid gets the queued packets.
        victim.post(b'421["echo","for the victim"]')
        stolen = thief.get(victim.sid)
        assert stolen.status == 200
        assert b'431["for the victim"]' in stolen.body
        # Two GETs at once: whichever comes second is an overlap; the session ends.
        victim.http.request("GET", victim.target(victim.sid))
        thief.http.request("GET", thief.target(victim.sid))
        answers = [victim.http.read_response(), thief.http.read_response()]
        assert sorted(a.status for a in answers) == [200, 400]
        first, second = sorted(answers, key=lambda a: a.status)
        assert first.body == b"1"  # the parked GET learns that the session is closed
        assert json_error(second, 400)["code"] == 3
        assert json_error(victim.get(), 400)["code"] == 1  # the session is closed
    w.check()


# -- at the end of it all -------------------------------------------------------------------


def test_nothing_leaked_into_the_good_clients(w: World) -> None:
    for good in w.good:
        assert EVIL not in good.everything()
        assert not good.disconnected
    w.check()
