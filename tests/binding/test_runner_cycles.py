"""Handler calls leave no reference cycle behind: what only the cyclic collector frees
piles up under load, and freeing it made the collector's full passes long (issue 14)."""

from __future__ import annotations

import gc
import logging
import queue
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.exceptions import ClientArgumentsError
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.testing.memory_socket import MemoryEngineSocket, build_handshake

TIMEOUT = 5.0


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """Cyclic garbage made during the test, kept in ``gc.garbage`` instead of freed. The
    package's logging is off meanwhile: a captured record would hold the exceptions."""
    package = logging.getLogger("flask_realtime")
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    package.disabled = True
    try:
        yield gc.garbage
    finally:
        package.disabled = False
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_misfit_calls_leave_no_cycle(flask_app: Flask, saved_garbage: list[object]) -> None:
    """A handler called with arguments it cannot take raises the client's mistake: a new
    exception each time (raising one kept in a closure made a cycle through its traceback,
    and grew that traceback by a frame per call)."""
    socketio = SocketIO(flask_app)
    socketio.on_event("one", lambda a: a)
    state = socketio.service_for(flask_app)
    bridge = state.ensure_loop()
    messages: queue.SimpleQueue[str | bytes] = queue.SimpleQueue()
    socket = MemoryEngineSocket(
        state.server, build_handshake(flask_app, "/socket.io/"), messages.put, lambda _: None
    )
    bridge.call_and_wait(socket.open)

    def send(*packets: Packet) -> None:
        pieces = [p for packet in packets for p in state.parsers.parser.encode(packet)]
        bridge.call(lambda: [socket.receive(piece) for piece in pieces])

    send(Packet(PacketType.CONNECT, "/", None))
    send(*(Packet(PacketType.EVENT, "/", ["one", 1, 2]) for _ in range(20)))
    send(Packet(PacketType.EVENT, "/", ["one", 1], id=7))
    received: list[Any] = []
    while not any(isinstance(m, str) and m.startswith("37[") for m in received):
        received.append(messages.get(timeout=TIMEOUT))
    bridge.call_and_wait(lambda: None)
    gc.collect()
    left = [type(o).__name__ for o in saved_garbage if issubclass(type(o), ClientArgumentsError)]
    assert left == []
