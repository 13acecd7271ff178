"""EngineSocket (engine/socket.py): heartbeats, the upgrade to WebSocket, close.

Each test drives real sessions of a real EngineServer; the WebSocket side is an in-memory
transport, and time moves only when the test says so.
"""

from __future__ import annotations

import pytest

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    EngineSocket,
    OutgoingMessage,
    PollingTransport,
    State,
)
from flask_realtime.protocol.engineio import Packet, PacketType

from .helpers import START, Harness, MemoryTransport

T = PacketType
PROBE_PING = Packet(T.PING, "probe")
PROBE_PONG = Packet(T.PONG, "probe")
UPGRADE = Packet(T.UPGRADE)


def state(socket: EngineSocket) -> State:
    """The session's state, read afresh (mypy would narrow ``socket.state`` between calls)."""
    return socket.state


# -- heartbeat, Engine.IO v4: the server pings ------------------------------------------


def test_v4_ping_answers_the_parked_get_at_ping_interval(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    h.advance(24.999)
    assert parked.parked
    h.advance(0.001)
    assert parked.body == b"2"
    assert not socket.closed


def test_v4_ping_is_queued_for_the_next_get(h: Harness) -> None:
    socket = h.open()
    h.advance(30)
    exchange = h.get(socket)
    assert exchange.immediate
    assert exchange.body == b"2"


def test_v4_ping_on_websocket(h: Harness) -> None:
    socket, ws = h.open_websocket()
    ws.take()
    h.advance(25)
    assert ws.take() == [Packet(T.PING)]
    socket.receive(Packet(T.PONG), h.now)
    h.advance(25)
    assert ws.take() == [Packet(T.PING)]


def test_v4_pong_resets_the_heartbeat(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    h.advance(25)
    assert parked.body == b"2"
    h.advance(19)  # START + 44: the pong comes just in time
    h.post(socket, "3")
    parked = h.get(socket)
    h.advance(24.9)  # past the old timeout (START + 45), before the next ping (START + 69)
    assert parked.parked
    assert not socket.closed
    h.advance(0.1)
    assert parked.body == b"2"
    assert h.handler.closes() == []


def test_v4_no_pong_closes_with_ping_timeout(h: Harness) -> None:
    socket = h.open()
    h.advance(25)
    assert h.get(socket).body == b"2"
    parked = h.get(socket)
    h.advance(19.999)
    assert not socket.closed
    h.advance(0.001)
    assert state(socket) is State.CLOSED
    assert parked.body == b"1"
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]
    assert socket.sid not in h.server.sessions


def test_v4_ping_timeout_on_websocket_closes_it(h: Harness) -> None:
    socket, ws = h.open_websocket()
    h.advance(45)
    assert ws.closes == [False]
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]


def test_v4_unsolicited_pong_is_ignored(h: Harness) -> None:
    socket = h.open()
    h.advance(10)
    h.post(socket, "3")
    parked = h.get(socket)
    h.advance(15)  # the ping stays due at START + 25
    assert parked.body == b"2"


def test_v4_ping_from_the_client_is_an_error(h: Harness) -> None:
    socket = h.open()
    assert h.post(socket, "2").body == b"ok"
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]


# -- heartbeat, Engine.IO v3: the client pings --------------------------------------------


def test_v3_client_ping_gets_a_pong(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    parked = h.get(socket)
    h.post(socket, "1:2")
    assert parked.body == b"1:3"
    h.post(socket, "6:2probe")
    assert h.get(socket).body == b"1:3"  # as Node: the pong carries none of the ping's data


def test_v3_server_never_pings_and_times_out_after_interval_plus_timeout(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    parked = h.get(socket)
    h.advance(44.999)
    assert parked.parked
    assert not socket.closed
    h.advance(0.001)
    assert parked.body == b"1:1"
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]


def test_v3_client_ping_resets_the_timeout(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    h.advance(40)
    h.post(socket, "1:2")
    h.advance(44.9)
    assert not socket.closed
    h.advance(0.1)
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]


def test_v3_pong_from_the_client_is_an_error(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    h.post(socket, "1:3")
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]


# -- other packets on the current transport ----------------------------------------------


def test_noop_is_ignored(h: Harness) -> None:
    socket = h.open()
    h.post(socket, "6")
    assert state(socket) is State.OPEN
    assert h.handler.events == [("open", socket, None)]


@pytest.mark.parametrize("packet", ["0", '0{"sid":"x"}', "5"])
def test_packets_the_client_may_not_send_close_the_session(h: Harness, packet: str) -> None:
    socket = h.open()
    h.post(socket, packet)
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]


def test_receive_after_close_is_ignored(h: Harness) -> None:
    socket, _ = h.open_websocket()
    socket.close()
    socket.receive(Packet(T.MESSAGE, "late"), h.now)
    socket.receive(Packet(T.CLOSE), h.now)
    assert h.handler.messages() == []
    assert h.handler.closes() == [CloseReason.SERVER_DISCONNECT]


def test_websocket_message_and_close_from_the_client(h: Harness) -> None:
    socket, ws = h.open_websocket()
    socket.receive(Packet(T.MESSAGE, b"\x00"), h.now)
    socket.receive(Packet(T.CLOSE), h.now)
    assert h.handler.messages(socket) == [b"\x00"]
    assert h.handler.closes(socket) == [CloseReason.CLIENT_DISCONNECT]
    assert ws.closes == [True]


# -- upgrade -------------------------------------------------------------------------------


def test_start_upgrade(h: Harness) -> None:
    socket = h.open()
    assert socket.can_upgrade()
    ws = h.probe(socket)
    assert state(socket) is State.UPGRADING
    assert socket.transport == "polling"
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
    assert socket.transport == "websocket"
    assert socket.transport_ is ws
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
    polling = socket.transport_
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
    assert socket.transport == "polling"
    assert ws.closes == [False]
    parked = h.get(socket)
    assert parked.parked  # the noop answer stops after the abort
    socket.send(OutgoingMessage("still polling"))
    assert parked.body == b"4still polling"
    socket.receive_probe(UPGRADE, h.now)  # too late: ignored
    assert socket.transport == "polling"
    assert socket.can_upgrade()
    h.advance(15)  # START + 25: the heartbeat goes on
    assert h.get(socket).body == b"2"
    assert h.handler.closes() == []


def test_probe_sending_anything_else_aborts_the_upgrade(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(Packet(T.MESSAGE, "hi"), h.now)
    assert state(socket) is State.OPEN
    assert socket.transport == "polling"
    assert ws.closes == [False]
    assert h.handler.messages() == []
    assert h.handler.closes() == []


def test_upgrade_packet_before_the_probe_ping_aborts(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(UPGRADE, h.now)
    assert socket.transport == "polling"
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
    assert socket.transport == "polling"
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


# -- close -----------------------------------------------------------------------------------


def test_server_close_on_websocket(h: Harness) -> None:
    socket, ws = h.open_websocket()
    ws.take()
    socket.close()
    assert state(socket) is State.CLOSED
    assert socket.closed
    assert socket.close_reason is CloseReason.SERVER_DISCONNECT
    assert ws.closes == [False]
    assert ws.take() == []
    assert h.handler.closes(socket) == [CloseReason.SERVER_DISCONNECT]
    assert socket.sid not in h.server.sessions


def test_server_close_on_polling_with_a_parked_get(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    socket.close()
    assert parked.body == b"1"
    assert state(socket) is State.CLOSED
    assert h.handler.closes(socket) == [CloseReason.SERVER_DISCONNECT]
    assert h.get(socket).error()[:2] == (400, 1)


def test_server_close_on_polling_without_a_parked_get(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("one"))
    socket.send(OutgoingMessage(b"\x02"))
    socket.close(CloseReason.SERVER_SHUTDOWN)
    assert state(socket) is State.CLOSING
    assert socket.closed
    assert h.handler.closes(socket) == [CloseReason.SERVER_SHUTDOWN]  # told at once
    assert socket.close_reason is CloseReason.SERVER_SHUTDOWN
    socket.send(OutgoingMessage("dropped"))
    exchange = h.get(socket)
    assert exchange.immediate
    assert exchange.body == b"4one\x1ebAg==\x1e1"
    assert state(socket) is State.CLOSED
    assert h.handler.closes(socket) == [CloseReason.SERVER_SHUTDOWN]
    assert h.get(socket).error()[:2] == (400, 1)


def test_closing_times_out_at_the_heartbeat_deadline(h: Harness) -> None:
    socket = h.open()
    h.advance(5)
    socket.close()
    h.advance(19.9)
    assert state(socket) is State.CLOSING
    assert socket.sid in h.server.sessions
    h.advance(0.1)
    assert state(socket) is State.CLOSED
    assert socket.sid not in h.server.sessions
    assert h.handler.closes(socket) == [CloseReason.SERVER_DISCONNECT]


def test_closing_timer_before_its_deadline_waits(h: Harness) -> None:
    socket = h.open()
    socket.close()
    socket.handle_timer(START + 1)  # a runtime may call early: nothing happens
    assert state(socket) is State.CLOSING
    assert h.server.next_deadline() == START + 25
    h.advance(25)
    assert state(socket) is State.CLOSED


def test_close_during_an_upgrade_drops_the_probe(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    ws = h.probe(socket)
    socket.close()
    assert ws.closes == [False]
    assert parked.body == b"1"
    assert h.handler.closes(socket) == [CloseReason.SERVER_DISCONNECT]


@pytest.mark.parametrize(
    "reason", [CloseReason.PING_TIMEOUT, CloseReason.TRANSPORT_ERROR, CloseReason.TRANSPORT_CLOSE]
)
def test_close_for_other_reasons_is_immediate_on_polling(h: Harness, reason: CloseReason) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("dropped"))
    socket.close(reason)
    assert state(socket) is State.CLOSED
    assert h.handler.closes(socket) == [reason]
    assert h.get(socket).error()[:2] == (400, 1)


def test_close_reason_reaches_the_handler_exactly_once(h: Harness) -> None:
    socket, ws = h.open_websocket()
    socket.close(CloseReason.PING_TIMEOUT)
    socket.close()
    socket.transport_closed(ws, CloseReason.TRANSPORT_CLOSE)
    socket.poll_aborted()
    h.advance(100)
    assert h.handler.closes() == [CloseReason.PING_TIMEOUT]
    assert socket.close_reason is CloseReason.PING_TIMEOUT

    polling = h.open()
    polling.close()
    polling.close(CloseReason.TRANSPORT_ERROR)
    h.get(polling)
    h.advance(100)
    assert h.handler.closes(polling) == [CloseReason.SERVER_DISCONNECT]


def test_websocket_lost(h: Harness) -> None:
    socket, ws = h.open_websocket()
    socket.transport_closed(ws, CloseReason.TRANSPORT_ERROR)
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]
    assert ws.closes == [True]
    assert socket.sid not in h.server.sessions


def test_send_after_close_is_a_no_op(h: Harness) -> None:
    socket, ws = h.open_websocket()
    ws.take()
    socket.close()
    socket.send(OutgoingMessage("late"))
    assert ws.take() == []


def test_handler_may_close_from_on_open() -> None:
    class Refusing:
        def on_open(self, socket: EngineSocket) -> None:
            socket.close()

        def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
            raise AssertionError("no message expected")

        def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
            closes.append(reason)

    closes: list[CloseReason] = []
    h = Harness()
    h.server.handler = Refusing()
    exchange = h.handshake()
    assert exchange.status == 200
    (socket,) = h.server.sessions.values()
    assert h.get(socket).body == b"1"
    assert closes == [CloseReason.SERVER_DISCONNECT]


def test_timer_of_a_closed_session_does_nothing(h: Harness) -> None:
    socket, ws = h.open_websocket()
    socket.close()
    assert socket.next_deadline() is None
    socket.handle_timer(START + 1000)
    assert ws.closes == [False]
    assert h.handler.closes() == [CloseReason.SERVER_DISCONNECT]


def test_repr(h: Harness) -> None:
    socket = h.open()
    assert repr(socket) == f"<EngineSocket {socket.sid} v4 polling open>"


def test_options_shape_the_heartbeat() -> None:
    h = Harness(EngineOptions(ping_interval=1, ping_timeout=0.5))
    socket = h.open()
    parked = h.get(socket)
    h.advance(1)
    assert parked.body == b"2"
    h.advance(0.5)
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]
