"""The Flask invoker: per-client order, parallel clients, a free loop, slow-handler warnings.

Some tests need to send several events without waiting for each handler, which the test
client never does: they drive the app's real server through a bare in-memory session.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any

import pytest
from flask import Flask, request

from flask_realtime import SocketIO
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.testing.memory_socket import MemoryEngineSocket, build_handshake
from support.waiting import wait_until


class RawClient:
    """A Socket.IO client that sends packets without waiting for handlers."""

    def __init__(self, socketio: SocketIO, app: Flask) -> None:
        self.state = socketio.service_for(app)
        self.bridge = self.state.ensure_loop()
        self.messages: queue.SimpleQueue[str | bytes] = queue.SimpleQueue()
        handshake = build_handshake(app, "/socket.io/")
        self.socket = MemoryEngineSocket(
            self.state.server, handshake, self.messages.put, lambda reason: None
        )
        self.bridge.call_and_wait(self.socket.open)
        self.send(Packet(PacketType.CONNECT, "/", None))

    def send(self, *packets: Packet) -> None:
        pieces = [p for packet in packets for p in self.state.parsers.parser.encode(packet)]

        def feed() -> None:
            for piece in pieces:
                self.socket.receive(piece)

        self.bridge.call(feed)

    def event(self, name: str, *args: Any) -> Packet:
        return Packet(PacketType.EVENT, "/", [name, *args])


def test_events_of_one_client_run_one_at_a_time_in_order(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    gate = threading.Event()
    entered = threading.Event()
    order: list[int] = []

    @socketio.on("step")
    def step(i: int) -> None:
        if i == 0:
            entered.set()
            assert gate.wait(5)
        order.append(i)

    client = RawClient(socketio, flask_app)
    client.send(*(client.event("step", i) for i in range(10)))
    assert entered.wait(5)
    client.bridge.call_and_wait(lambda: None)  # the loop has taken all ten events
    # While the first handler waits, none of the later ones may run (a pool of 64 threads
    # could run them all at once).
    assert order == []
    gate.set()
    wait_until(lambda: len(order) == 10, what="all ten handlers")
    assert order == list(range(10))


@pytest.mark.parametrize("kind", ["def", "async"])
def test_a_blocked_def_handler_blocks_neither_other_clients_nor_the_loop(
    flask_app: Flask, kind: str
) -> None:
    socketio = SocketIO(flask_app)
    gate = threading.Event()
    entered = threading.Event()

    @socketio.on("block")
    def block() -> None:
        entered.set()
        assert gate.wait(5)

    if kind == "def":

        @socketio.on("quick")
        def quick() -> str:
            return "quick"

    else:

        @socketio.on("quick")
        async def quick_async() -> str:
            await asyncio.sleep(0)
            return "quick"

    blocked = RawClient(socketio, flask_app)
    blocked.send(blocked.event("block"))
    assert entered.wait(5)
    try:
        other = socketio.test_client(flask_app)
        assert other.emit("quick", callback=True) == "quick"
    finally:
        gate.set()


def test_async_handlers_keep_their_own_request_context(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    arrived: list[str] = []
    both = asyncio.Event()

    @socketio.on("who")
    async def who() -> str:
        arrived.append(request.sid)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)
        return request.sid  # still this client's, after the other ran meanwhile

    a, b = socketio.test_client(flask_app), socketio.test_client(flask_app)
    results: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: results.update(a=a.emit("who", callback=True)))
    thread.start()
    results["b"] = b.emit("who", callback=True)
    thread.join(5)
    assert results == {"a": a.sid, "b": b.sid}


def test_slow_handlers_are_warned_about(flask_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    socketio = SocketIO(flask_app, slow_handler_warning=0.05)
    release = threading.Event()

    @socketio.on("slow")
    def slow() -> None:
        assert release.wait(5)

    caplog.set_level(logging.WARNING, logger="flask_realtime.binding.runner")
    client = RawClient(socketio, flask_app)
    client.send(client.event("slow"))
    try:
        wait_until(
            lambda: any("'slow'" in r.getMessage() for r in caplog.records),
            what="the slow-handler warning",
        )
    finally:
        release.set()
    (record,) = [r for r in caplog.records if "'slow'" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "has run for" in record.getMessage()


def test_no_warning_for_quick_handlers(flask_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    socketio = SocketIO(flask_app, slow_handler_warning=1.0)

    @socketio.on("quick")
    def quick() -> str:
        return "done"

    caplog.set_level(logging.WARNING, logger="flask_realtime.binding.runner")
    client = socketio.test_client(flask_app)
    for _ in range(5):
        client.emit("quick", callback=True)
    assert not [r for r in caplog.records if r.name == "flask_realtime.binding.runner"]


def test_the_worker_pool_is_bounded(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app, worker_threads=2)
    gate = threading.Event()
    running = 0
    peak = 0
    lock = threading.Lock()
    finished: list[int] = []

    @socketio.on("work")
    def work(i: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        assert gate.wait(5)
        with lock:
            running -= 1
            finished.append(i)

    clients = [RawClient(socketio, flask_app) for _ in range(4)]
    for i, client in enumerate(clients):
        client.send(client.event("work", i))
    wait_until(lambda: running == 2, what="two handlers running")
    gate.set()
    wait_until(lambda: len(finished) == 4, what="every handler")
    assert peak == 2
    assert socketio.service_for(flask_app).pool.thread_count <= 2


def test_handler_exception_is_logged_without_a_listener(
    flask_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    socketio = SocketIO(flask_app)

    @socketio.on("fail")
    def fail() -> None:
        raise LookupError("in handler")

    client = RawClient(socketio, flask_app)
    client.send(client.event("fail"))
    wait_until(
        lambda: any(r.exc_info and isinstance(r.exc_info[1], LookupError) for r in caplog.records),
        what="the logged exception",
    )


def test_events_queued_behind_a_client_that_left_are_dropped(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    gate = threading.Event()
    entered = threading.Event()
    ran: list[int] = []
    left: list[str] = []

    @socketio.on("step")
    def step(i: int) -> None:
        if i == 0:
            entered.set()
            assert gate.wait(5)
        ran.append(i)

    @socketio.on("disconnect")
    def gone() -> None:
        left.append("gone")

    client = RawClient(socketio, flask_app)
    client.send(*(client.event("step", i) for i in range(5_000)))
    assert entered.wait(5)
    client.bridge.call_and_wait(client.socket.client_close)  # the client leaves
    gate.set()
    # The handler that was running finishes; the 4,999 waiting behind it are dropped,
    # and the disconnect handler (queued after them) still runs.
    wait_until(lambda: left == ["gone"], what="the disconnect handler")
    assert ran == [0]
    runner = socketio.service_for(flask_app).runner
    idle = threading.Event()  # nothing of that connection is left pending
    client.bridge.call(runner.when_idle, client.socket.sid, idle.set)
    assert idle.wait(5)


def test_async_handlers_that_never_suspend_run_in_order_without_recursion(
    flask_app: Flask,
) -> None:
    # Each finishes in its first step (eagerly on 3.12+); a lane of thousands queued
    # behind a suspended first one is run in a loop once it resumes, not by recursion.
    socketio = SocketIO(flask_app)
    gate = asyncio.Event()
    order: list[int] = []
    sids: set[str] = set()

    @socketio.on("step")
    async def step(i: int) -> None:
        if i == 0:
            await asyncio.wait_for(gate.wait(), 5)
        order.append(i)
        sids.add(request.sid)

    client = RawClient(socketio, flask_app)
    client.send(*(client.event("step", i) for i in range(5_000)))
    client.bridge.call_and_wait(lambda: None)
    assert order == []  # the first one waits; the others wait behind it
    client.bridge.call(gate.set)
    wait_until(lambda: len(order) == 5_000, what="all the handlers")
    assert order == list(range(5_000))
    assert len(sids) == 1


def test_an_async_handler_that_suspends_keeps_its_contexts_and_gets_a_task(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app)
    seen: list[Any] = []

    @socketio.on("nap")
    async def nap() -> str:
        before = request.sid
        await asyncio.sleep(0.01)  # the task takes over from here
        seen.append(asyncio.current_task() is not None)
        async with asyncio.timeout(5):  # a task's API works after the first suspension
            await asyncio.sleep(0)
        return f"{before}/{request.sid}"

    client = socketio.test_client(flask_app)
    assert client.emit("nap", callback=True) == f"{client.sid}/{client.sid}"
    assert seen == [True]


def test_a_client_with_too_many_events_queued_is_not_read_from_until_half_are_done(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app, max_queued_events=8)
    gate = threading.Event()
    ran: list[int] = []

    @socketio.on("step")
    def step(i: int) -> None:
        assert gate.wait(5)
        ran.append(i)

    client = RawClient(socketio, flask_app)
    client.send(*(client.event("step", i) for i in range(7)))
    client.bridge.call_and_wait(lambda: None)
    assert not client.socket.input_paused  # 7 queued: under the bound
    client.send(client.event("step", 7))
    client.bridge.call_and_wait(lambda: None)
    assert client.socket.input_paused  # the 8th: stop reading from this client
    gate.set()
    wait_until(lambda: not client.socket.input_paused, what="reading to resume")
    wait_until(lambda: len(ran) == 8, what="every handler")
    assert ran == list(range(8))
    assert not client.socket.input_paused


def test_a_def_handlers_ack_is_encoded_in_its_worker_thread(
    flask_app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_realtime.server.socket import Socket

    socketio = SocketIO(flask_app)
    encoded_in: list[str] = []
    ack_messages = Socket.ack_messages

    def spy(self: Socket, ack_id: int, result: Any, *, frame: bool = False) -> Any:
        encoded_in.append(threading.current_thread().name)
        return ack_messages(self, ack_id, result, frame=frame)

    monkeypatch.setattr(Socket, "ack_messages", spy)

    @socketio.on("reply")
    def reply(value: Any) -> Any:
        return {"text": value, "bytes": b"\x01\x02"} if value == "binary" else value

    @socketio.on("unsendable")
    def unsendable() -> Any:
        return object()

    client = RawClient(socketio, flask_app)
    client.messages.get(timeout=5)  # the CONNECT answer
    client.send(Packet(PacketType.EVENT, "/", ["reply", "hi"], 1))
    assert client.messages.get(timeout=5) == '31["hi"]'
    client.send(Packet(PacketType.EVENT, "/", ["reply", "binary"], 2))
    placeholder = '{"_placeholder":true,"num":0}'
    assert client.messages.get(timeout=5) == f'61-2[{{"text":"binary","bytes":{placeholder}}}]'
    assert client.messages.get(timeout=5) == b"\x01\x02"
    client.send(Packet(PacketType.EVENT, "/", ["unsendable"], 3))
    wait_until(
        lambda: any("cannot send the return value" in r.getMessage() for r in caplog.records),
        what="the logged encoding failure",
    )
    client.send(Packet(PacketType.EVENT, "/", ["reply", "after"], 4))
    assert client.messages.get(timeout=5) == '34["after"]'  # nothing was sent for the 3rd
    loop_thread = client.bridge.call_and_wait(lambda: threading.current_thread().name)
    # Each reply was encoded once in a worker thread; the failed one again on the loop,
    # which logged why it could not.
    assert encoded_in.count(loop_thread) == 1
    assert len(encoded_in) == 5
