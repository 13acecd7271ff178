"""EngineSocket (engine/socket.py): the upgrade to WebSocket, and the heartbeat after it.

Each test drives real sessions of a real EngineServer; the WebSocket side is an in-memory
transport, and time moves only when the test says so.
"""

from __future__ import annotations

import pytest

from flask_realtime.engine import (
    CloseReason,
    EngineSocket,
    OutgoingMessage,
    PollingTransport,
    State,
)
from flask_realtime.protocol.engineio import Packet

from .helpers import Harness, MemoryTransport
from .socket_support import PROBE_PING, PROBE_PONG, UPGRADE, T, state

# -- upgrade -------------------------------------------------------------------------------


def test_start_upgrade(h: Harness) -> None:
    socket = h.open()
    assert socket.can_upgrade()
    ws = h.probe(socket)
    assert state(socket) is State.UPGRADING
    assert socket.transport_name == "polling"
    assert not socket.can_upgrade()
    assert ws.sent == []
    assert not socket.closed


def test_probe_ping_gets_a_pong_and_the_parked_get_a_noop(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    ws = h.probe(socket)
    assert parked.parked
    socket.receive_probe(PROBE_PING, h.now)
    assert ws.take() == [PROBE_PONG]
    assert parked.body == b"6"


def test_get_after_the_probe_ping_is_answered_with_a_noop_at_once(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    assert ws.take() == [PROBE_PONG]
    exchange = h.get(socket)
    assert exchange.immediate
    assert exchange.body == b"6"


def test_get_before_the_probe_ping_parks(h: Harness) -> None:
    socket = h.open()
    h.probe(socket)
    assert h.get(socket).parked


def test_upgrade_switches_the_transport(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    assert ws.take() == [PROBE_PONG]
    socket.receive_probe(UPGRADE, h.now)
    assert socket.transport_name == "websocket"
    assert socket.transport is ws
    assert state(socket) is State.OPEN
    assert ws.sent == []  # nothing extra after "5"
    assert not ws.closed
    assert h.get(socket).error()[:2] == (400, 3)  # the polling transport is gone
    socket.send(OutgoingMessage("on ws"))
    assert ws.take() == [Packet(T.MESSAGE, "on ws")]
    socket.receive(Packet(T.MESSAGE, "from ws"), h.now)
    assert h.handler.messages(socket) == ["from ws"]
    assert h.handler.closes() == []


def test_upgrade_closes_a_parked_get_with_a_noop(h: Harness) -> None:
    socket = h.open()
    polling = socket.transport
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    # After the probe ping the session answers every GET at once, so in practice no GET
    # is parked when "5" arrives; one parked on the transport shows that the switch
    # closes the old transport with a noop, not a close packet.
    answers: list[str | bytes] = []
    assert isinstance(polling, PollingTransport)
    polling.park(answers.append)
    socket.receive_probe(UPGRADE, h.now)
    assert answers == ["6"]
    assert ws.take() == [PROBE_PONG]


def test_messages_buffered_during_the_upgrade_flush_on_the_websocket(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    socket.send(OutgoingMessage("a"))
    socket.send(OutgoingMessage(b"b"))
    assert ws.take() == [PROBE_PONG]
    socket.receive_probe(UPGRADE, h.now)
    assert ws.take() == [Packet(T.MESSAGE, "a"), Packet(T.MESSAGE, b"b")]


def test_messages_sent_during_the_upgrade_are_delivered_exactly_once(h: Harness) -> None:
    socket = h.open()
    first_get = h.get(socket)
    ws = h.probe(socket)
    socket.send(OutgoingMessage("m1"))  # answers the parked GET
    socket.receive_probe(PROBE_PING, h.now)  # no GET parked: no noop
    socket.send(OutgoingMessage("m2"))  # buffered
    second_get = h.get(socket)  # takes the buffer
    socket.send(OutgoingMessage("m3"))  # buffered again
    socket.receive_probe(UPGRADE, h.now)
    socket.send(OutgoingMessage("m4"))
    assert first_get.body == b"4m1"
    assert second_get.body == b"4m2"
    assert ws.take() == [PROBE_PONG, Packet(T.MESSAGE, "m3"), Packet(T.MESSAGE, "m4")]


def test_upgrade_timeout_aborts_and_polling_goes_on(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    h.advance(9.999)
    assert state(socket) is State.UPGRADING
    h.advance(0.001)
    assert state(socket) is State.OPEN
    assert socket.transport_name == "polling"
    assert ws.closes == [False]
    parked = h.get(socket)
    assert parked.parked  # the noop answer stops after the abort
    socket.send(OutgoingMessage("still polling"))
    assert parked.body == b"4still polling"
    socket.receive_probe(UPGRADE, h.now)  # too late: ignored
    assert socket.transport_name == "polling"
    assert socket.can_upgrade()
    h.advance(15)  # START + 25: the heartbeat goes on
    assert h.get(socket).body == b"2"
    assert h.handler.closes() == []


def test_probe_sending_anything_else_aborts_the_upgrade(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(Packet(T.MESSAGE, "hi"), h.now)
    assert state(socket) is State.OPEN
    assert socket.transport_name == "polling"
    assert ws.closes == [False]
    assert h.handler.messages() == []
    assert h.handler.closes() == []


def test_upgrade_packet_before_the_probe_ping_aborts(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(UPGRADE, h.now)
    assert socket.transport_name == "polling"
    assert ws.closed


def test_noop_on_the_probe_is_ignored(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(Packet(T.NOOP), h.now)
    assert state(socket) is State.UPGRADING
    assert not ws.closed


def test_probe_lost_keeps_the_session(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    socket.transport_closed(ws, CloseReason.TRANSPORT_ERROR)
    assert state(socket) is State.OPEN
    assert socket.transport_name == "polling"
    assert h.handler.closes() == []
    assert h.get(socket).parked
    h.probe(socket)  # the client may try again
    assert state(socket) is State.UPGRADING


def test_closed_transport_that_the_session_does_not_use_is_ignored(h: Harness) -> None:
    socket = h.open()
    socket.transport_closed(MemoryTransport(), CloseReason.TRANSPORT_CLOSE)
    assert state(socket) is State.OPEN


def test_upgrade_of_a_v3_session(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    parked = h.get(socket)
    ws = h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    assert parked.body == b"1:6"
    socket.receive_probe(UPGRADE, h.now)
    assert ws.take() == [PROBE_PONG]
    socket.receive(Packet(T.PING), h.now)
    assert ws.take() == [Packet(T.PONG)]


def test_polling_goes_on_during_the_upgrade(h: Harness) -> None:
    socket = h.open()
    h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    assert h.post(socket, "4still posting").body == b"ok"
    assert h.handler.messages(socket) == ["still posting"]
    assert state(socket) is State.UPGRADING


def test_no_second_upgrade_once_on_websocket(h: Harness) -> None:
    socket = h.open()
    h.probe(socket)
    socket.receive_probe(PROBE_PING, h.now)
    socket.receive_probe(UPGRADE, h.now)
    assert not socket.can_upgrade()
    socket.receive_probe(PROBE_PING, h.now)  # a stray probe packet is ignored
    assert state(socket) is State.OPEN


def test_start_upgrade_requires_an_open_session(h: Harness) -> None:
    socket = h.open()
    h.probe(socket)
    with pytest.raises(AssertionError, match="illegal"):
        socket.start_upgrade(MemoryTransport(), h.now)


# -- the heartbeat survives the end of an upgrade ------------------------------------------
#
# While upgrading, the session's next deadline is the upgrade timeout when it comes first;
# when the upgrade ends (completed, aborted, or by a close) the heartbeat deadline must be
# back on the server's timer heap, or the session is never pinged nor timed out again.


def _pong_during_upgrade(h: Harness) -> tuple[EngineSocket, MemoryTransport]:
    socket = h.open()
    h.advance(20)
    ws = h.probe(socket)  # upgrade timeout at START + 30
    h.advance(5)  # START + 25: ping, queued for polling
    assert h.get(socket).body == b"2"
    h.post(socket, "3")  # next ping due at START + 50
    return socket, ws


def test_heartbeat_goes_on_after_the_upgrade_completes(h: Harness) -> None:
    socket, ws = _pong_during_upgrade(h)
    socket.receive_probe(PROBE_PING, h.now)
    socket.receive_probe(UPGRADE, h.now)
    ws.take()
    h.advance(24.9)
    assert ws.take() == []
    h.advance(0.1)
    assert ws.take() == [Packet(T.PING)]
    h.advance(20)
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]


def test_heartbeat_goes_on_after_the_probe_is_lost(h: Harness) -> None:
    socket, ws = _pong_during_upgrade(h)
    socket.transport_closed(ws, CloseReason.TRANSPORT_CLOSE)
    parked = h.get(socket)
    h.advance(25)
    assert parked.body == b"2"
    h.advance(20)
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]


def test_closing_session_times_out_after_an_upgrade_ended_by_close(h: Harness) -> None:
    socket, ws = _pong_during_upgrade(h)
    socket.close()
    assert state(socket) is State.CLOSING
    assert ws.closed
    h.advance(25)  # the heartbeat deadline: START + 50
    assert state(socket) is State.CLOSED
    assert socket.sid not in h.server.sessions
