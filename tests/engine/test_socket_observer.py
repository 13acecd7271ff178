"""What a session tells the engine's observer: its upgrade, and volatile messages dropped
(nothing else, and nothing at all when no observer is set)."""

from __future__ import annotations

from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineSocket

from .helpers import Harness
from .socket_support import PROBE_PING, UPGRADE


class Told:
    def __init__(self) -> None:
        self.upgraded: list[EngineSocket] = []
        self.dropped: list[tuple[EngineSocket, int]] = []

    def session_upgraded(self, socket: EngineSocket) -> None:
        self.upgraded.append(socket)

    def volatile_dropped(self, socket: EngineSocket, count: int) -> None:
        self.dropped.append((socket, count))


def test_the_observer_is_told_of_the_upgrade_once() -> None:
    h = Harness()
    told = Told()
    h.server.observer = told
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    assert told.upgraded == []
    socket.receive_probe(UPGRADE, h.now)
    assert told.upgraded == [socket]
    assert socket.transport is ws
    socket.send(OutgoingMessage("after"))
    assert told.upgraded == [socket]
    assert told.dropped == []


def test_a_volatile_message_dropped_for_a_client_not_polling_is_counted() -> None:
    h = Harness()
    told = Told()
    h.server.observer = told
    socket = h.open()  # no GET parked: the transport cannot take a message now
    socket.send(OutgoingMessage("kept"))
    socket.send(OutgoingMessage("dropped", volatile=True))
    assert told.dropped == [(socket, 1)]
    assert socket.buffered_bytes == len("kept")
    assert [p.data for p in h.get(socket).packets()] == ["kept"]


def test_without_an_observer_the_same_drop_is_silent() -> None:
    h = Harness()
    assert h.server.observer is None
    socket = h.open()
    socket.send(OutgoingMessage("dropped", volatile=True))
    assert socket.buffered_bytes == 0
