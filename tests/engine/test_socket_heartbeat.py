"""EngineSocket (engine/socket.py): heartbeats, and the packets of the current transport.

Each test drives real sessions of a real EngineServer; the WebSocket side is an in-memory
transport, and time moves only when the test says so.
"""

from __future__ import annotations

import pytest

from flask_realtime.engine import CloseReason, State
from flask_realtime.protocol.engineio import Packet

from .helpers import Harness
from .socket_support import T, state

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


def test_a_client_not_read_from_is_not_timed_out_meanwhile(h: Harness) -> None:
    socket, ws = h.open_websocket()
    ws.take()
    h.advance(25)
    assert ws.take() == [Packet(T.PING)]
    socket.pause_input(True)  # the server stops reading: the pong may wait unread
    assert ws.input_paused
    h.advance(300)
    assert not socket.closed
    assert ws.take() == []  # and no ping after ping meanwhile
    socket.pause_input(False)
    assert not ws.input_paused
    h.advance(20)  # reading again: the pong is due within ping_timeout
    assert socket.closed


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
