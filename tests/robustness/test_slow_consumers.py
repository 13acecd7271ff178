"""Slow consumers during a broadcast stream: the others keep being served, a client that
reads slowly loses volatile messages first, and one that stops reading is dropped within
seconds, with a reason in the log, its buffer bounded by ``max_buffered_bytes``.

This module's world buffers at most 1 MiB per client, so that a stream of a few MiB
shows each stage quickly.
"""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from support.waiting import wait_until

from .conftest import World, log_lines, serving
from .support import TIMEOUT, Closed, RawWebSocket, open_socketio

BUFFERED = 1024 * 1024
BLOB = "s" * (32 * 1024)


@pytest.fixture(scope="module")
def slow_world() -> Iterator[World]:
    with serving(World("slow_consumers", max_buffered_bytes=BUFFERED)) as world:
        yield world


@pytest.fixture
def s(slow_world: World) -> World:
    slow_world.check()
    slow_world.logs.start_test()
    return slow_world


def joined(world: World, room: str, *, rcvbuf: int | None = None) -> tuple[RawWebSocket, str]:
    ws, sid = open_socketio(world.port, rcvbuf=rcvbuf)
    ws.send(f'420["join","{room}"]')
    assert ws.recv() == f'430["{room}"]'
    return ws, sid


class Reader:
    """Reads a raw WebSocket in a thread, every ``pace`` seconds one packet, keeping the
    events by name, until the ``end`` event or the connection closes."""

    def __init__(self, ws: RawWebSocket, pace: float = 0.0) -> None:
        self.ws = ws
        self.pace = pace
        self.events: list[tuple[str, int]] = []
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                packet = self.ws.recv(TIMEOUT * 4)
                if isinstance(packet, str) and packet.startswith("42["):
                    name, data = json.loads(packet[2:])[:2]
                    if name == "end":
                        return
                    if name in ("tick", "state"):  # not World.check's broadcasts
                        self.events.append((name, data["n"]))
                if self.pace:
                    time.sleep(self.pace)  # the slow reader's own pace, not a wait in a test
        except (Closed, TimeoutError, OSError):
            self.closed = True

    def join(self) -> None:
        self.thread.join(TIMEOUT * 5)
        assert not self.thread.is_alive(), "the reader never got to the end"


def stream(world: World, room: str, count: int, *, pause: float = 0.0) -> None:
    """Broadcast ``count`` pairs (a volatile "tick", then a "state") to ``room``."""
    with world.app.app_context():
        for n in range(count):
            world.socketio.emit("tick", {"n": n, "blob": BLOB}, to=room, volatile=True)
            world.socketio.emit("state", {"n": n, "blob": BLOB}, to=room)
            if pause:
                time.sleep(pause)  # the producer's pace
        world.socketio.emit("end", {"n": -1}, to=room)


def writes_paused(world: World, sid: str) -> bool:
    """Whether the server has stopped writing to ``sid`` (its kernel buffer is full): a
    read of the WebSocket's flow-control flag, made from this thread."""
    socket = world.state.server.get_socket(sid, "/")
    return socket is not None and bool(getattr(socket.eio.transport, "_paused", False))


def test_a_slow_reader_loses_volatile_messages_first(s: World) -> None:
    fast_ws, fast_sid = joined(s, "paced")
    slow_ws, slow_sid = joined(s, "paced", rcvbuf=4096)
    with fast_ws, slow_ws:
        fast = Reader(fast_ws)
        sent = 0
        with s.app.app_context():

            def pair() -> None:
                nonlocal sent
                s.socketio.emit("tick", {"n": sent, "blob": BLOB}, to="paced", volatile=True)
                s.socketio.emit("state", {"n": sent, "blob": BLOB}, to="paced")
                sent += 1

            # The slow one reads nothing until the server has to hold its messages back.
            wait_until(
                lambda: writes_paused(s, slow_sid) or pair() or False,
                TIMEOUT,
                "the server to stop writing to a client that does not read",
                interval=0.005,
            )
            paused_at = sent
            for _ in range(8):  # 256 KiB of states: held for it, under the 1 MiB it may
                pair()
            s.socketio.emit("end", {"n": -1}, to="paced")
        slow = Reader(slow_ws)  # it reads again
        fast.join()
        slow.join()
        assert not slow.closed, "the slow reader was dropped though under the limit"
        everything = [("tick", n) for n in range(sent)] + [("state", n) for n in range(sent)]
        assert sorted(fast.events) == sorted(everything)  # the fast reader lost nothing
        states = [n for name, n in slow.events if name == "state"]
        ticks = [n for name, n in slow.events if name == "tick"]
        assert states == list(range(sent)), "a state (not volatile) was lost"
        late_ticks = [n for n in ticks if n > paused_at]
        assert not late_ticks, f"volatile ticks sent while paused were kept: {late_ticks}"
    s.seen.wait_for("disconnect", fast_sid)
    s.seen.wait_for("disconnect", slow_sid)
    s.check()


def test_a_client_that_stops_reading_is_dropped_within_seconds(s: World) -> None:
    reader_ws, reader_sid = joined(s, "firehose")
    stalled_ws, stalled_sid = joined(s, "firehose", rcvbuf=4096)  # and never reads again
    with reader_ws, stalled_ws:
        reader = Reader(reader_ws)
        count = 160  # 10 MiB: ten times what the stalled client may have waiting
        failures: list[BaseException] = []
        started = time.monotonic()

        def produce() -> None:
            try:
                stream(s, "firehose", count, pause=0.001)
            except BaseException as exc:
                failures.append(exc)

        tracemalloc.start()
        try:
            producer = threading.Thread(target=produce, daemon=True)
            producer.start()
            reason = s.seen.wait_for("disconnect", stalled_sid)
            dropped_after = time.monotonic() - started
            while producer.is_alive():
                s.check()  # the others are served while the stream goes on
                producer.join(0.05)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        reader.join()
        assert not failures, failures
        assert reason == "transport error"
        assert dropped_after < 5, f"dropped only after {dropped_after:.1f} s"
        # the stalled client's backlog was bounded by max_buffered_bytes, not the stream
        assert peak < 8 * BUFFERED, f"peak {peak / 2**20:.1f} MiB"
        assert sorted(reader.events) == sorted(
            [("tick", n) for n in range(count)] + [("state", n) for n in range(count)]
        ), "the reading client lost messages"
    s.seen.wait_for("disconnect", reader_sid)
    assert any("reads too slowly" in line for line in log_lines(s))
    wait_until(lambda: s.sessions() == 2, TIMEOUT, "the stalled session to be released")
    s.check()
