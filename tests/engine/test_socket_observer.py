"""What a session tells the engine's observer: its upgrade, and volatile messages dropped
(nothing else, and nothing at all when no observer is set); and what it counts in the
traffic, a broadcast's messages counted once for all."""

from __future__ import annotations

from flask_realtime.engine.message import OutgoingMessage, messages_of
from flask_realtime.engine.socket import EngineSocket
from flask_realtime.engine.traffic import Traffic

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


def test_a_broadcast_counted_once_is_not_counted_again_and_a_failed_send_gives_it_back() -> None:
    """Traffic.broadcast counts a broadcast's messages for all recipients at once; each
    recipient's send then adds nothing, and one that does not send (a volatile message
    dropped, its attachment, a session closing) takes its copy back."""
    h = Harness()
    traffic = Traffic()
    h.server.traffic = traffic
    ready = h.open()
    h.get(ready)  # a GET parked: this one can take a message now
    stalled = h.open()  # no GET: what it is sent waits, a volatile message is dropped
    stalled.send(OutgoingMessage("kept"))
    closed = h.open()
    closed.close()
    assert (traffic.messages_out, traffic.bytes_out) == (1, len("kept"))  # counted alone

    plain = [OutgoingMessage("news")]
    traffic.broadcast(plain, 3)
    assert (traffic.messages_out, traffic.bytes_out) == (4, 4 + 3 * 4)
    for socket in (ready, stalled, closed):
        socket.send(plain[0])
    assert (traffic.messages_out, traffic.bytes_out) == (3, 4 + 2 * 4)  # closed: given back

    h.get(ready)
    volatile = messages_of(["2tick", b"\x01\x02"], volatile=True)  # a head and attachment
    traffic.broadcast(volatile, 2)
    for socket in (ready, stalled):
        for message in volatile:
            socket.send(message)
    # ready took both; stalled dropped the head and its attachment
    assert (traffic.messages_out, traffic.bytes_out) == (3 + 2, 4 + 2 * 4 + 5 + 2)


def test_a_message_sent_to_one_client_is_counted_by_its_send() -> None:
    h = Harness()
    traffic = Traffic()
    h.server.traffic = traffic
    socket = h.open()
    socket.send(OutgoingMessage("one"))
    socket.send(OutgoingMessage("dropped", volatile=True))
    socket.close()
    socket.send(OutgoingMessage("after the close"))
    assert (traffic.messages_out, traffic.bytes_out) == (1, 3)
