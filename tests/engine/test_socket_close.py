"""EngineSocket (engine/socket.py): close.

Each test drives real sessions of a real EngineServer; the WebSocket side is an in-memory
transport, and time moves only when the test says so.
"""

from __future__ import annotations

import pytest

from flask_realtime.engine import CloseReason, EngineOptions, EngineSocket, OutgoingMessage, State

from .helpers import START, Harness
from .socket_support import state

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
    assert h.server.deadlines.next_deadline() == START + 25
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
