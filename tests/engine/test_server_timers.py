"""EngineServer (engine/engine_server.py): the sessions' deadlines, on_earlier, failing timers."""

from __future__ import annotations

from collections.abc import Sequence

from flask_realtime.engine import (
    CloseReason,
    EngineSocket,
)
from flask_realtime.engine.transport import Outgoing
from flask_realtime.protocol.engineio import Packet, PacketType

from .helpers import START, Harness, MemoryTransport, as_packet

T = PacketType

# -- the timer heap ----------------------------------------------------------------------


def test_server_without_sessions_has_no_deadline(h: Harness) -> None:
    assert h.server.deadlines.next_deadline() is None
    h.server.deadlines.fire(START + 1e6)
    assert h.wakeups == []


def test_handle_timers_runs_only_due_sessions(h: Harness) -> None:
    early = h.open()
    h.now += 10
    late = h.open()
    early_get, late_get = h.get(early), h.get(late)
    h.server.deadlines.fire(START + 25)
    assert early_get.body == b"2"
    assert late_get.parked
    h.server.deadlines.fire(START + 35)
    assert late_get.body == b"2"


def test_handle_timers_before_any_deadline_does_nothing(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    h.server.deadlines.fire(START + 24.999)
    assert parked.parked
    assert h.server.deadlines.next_deadline() == START + 25


def test_on_earlier_only_for_an_earlier_deadline(h: Harness) -> None:
    first = h.open()
    assert h.wakeups == [START + 25]
    h.now += 1
    h.open()  # due later than the first: the runtime's timer stands
    assert h.wakeups == [START + 25]
    h.probe(first)  # upgrade timeout: 10 s, earlier than any heartbeat
    assert h.wakeups == [START + 25, START + 11]
    assert h.server.deadlines.next_deadline() == START + 11


def test_on_earlier_is_optional() -> None:
    h = Harness()
    h.server.deadlines.on_earlier = None
    socket = h.open()
    h.advance(25)
    assert h.get(socket).body == b"2"


def test_stale_heap_entries_do_not_fire(h: Harness) -> None:
    socket = h.open()
    h.advance(25)
    assert h.get(socket).body == b"2"  # ping; pong due by START + 45
    h.now = START + 30
    h.post(socket, "3")  # next ping at START + 55
    parked = h.get(socket)
    h.advance(15)  # START + 45: the ping timeout entry is stale
    assert not socket.closed
    assert parked.parked
    h.server.deadlines.fire(START + 54.9)
    assert parked.parked
    h.advance(10)
    assert parked.body == b"2"


def test_closed_sessions_timers_lapse(h: Harness) -> None:
    socket, ws = h.open_websocket()
    socket.close()
    h.advance(100)
    assert h.handler.closes() == [CloseReason.SERVER_DISCONNECT]
    assert [p.type for p in ws.take()] == [T.OPEN]
    assert h.server.deadlines.next_deadline() is None


def test_parked_get_is_a_socket_result(h: Harness) -> None:
    socket = h.open()
    exchange = h.get(socket)
    assert isinstance(exchange.result, EngineSocket)


def test_open_websocket_session_gets_a_heartbeat(h: Harness) -> None:
    _, ws = h.open_websocket()
    ws.take()
    h.advance(25)
    assert ws.take() == [Packet(T.PING)]


def test_forget_is_idempotent_and_only_drops_that_session(h: Harness) -> None:
    gone, _ = h.open_websocket()
    kept = h.open()
    gone.close()
    assert list(h.server.sessions) == [kept.sid]
    h.server.forget(gone)  # again: nothing else is dropped
    assert list(h.server.sessions) == [kept.sid]


def test_a_pinging_v3_client_does_not_grow_the_timer_heap(h: Harness) -> None:
    socket, _ws = h.open_websocket(eio="3")
    before = h.server.deadlines.heap_size
    for n in range(1000):  # each ping moves the deadline later
        h.now = START + n * 0.01
        socket.receive(Packet(T.PING), h.now)
    assert h.server.deadlines.heap_size <= before + 1
    h.advance(200)  # the session still times out once the pings stop
    assert h.handler.closes(socket) == [CloseReason.PING_TIMEOUT]


def test_v3_pongs_carry_no_data_and_only_one_waits_for_a_client_that_does_not_poll(
    h: Harness,
) -> None:
    socket = h.open(eio="3", query="b64=1")
    for _ in range(100):
        socket.receive(Packet(T.PING, "x" * 1000), h.now)
    assert h.get(socket).body == b"1:3"  # one pong, without the pings' data


def test_a_session_whose_timer_raises_is_closed_and_the_others_go_on(h: Harness) -> None:
    class Exploding(MemoryTransport):
        def send(self, items: Sequence[Outgoing]) -> None:
            if any(as_packet(item).type is T.PING for item in items):
                raise RuntimeError("the transport broke while pinging")
            super().send(items)

    broken = h.server.open_websocket(h.request(transport="websocket"), Exploding(), h.now)
    healthy = h.open()
    h.advance(25)  # both are due for a ping
    assert broken.closed
    assert h.handler.closes(broken) == [CloseReason.TRANSPORT_ERROR]
    assert h.get(healthy).body == b"2"  # its ping still went out
    assert h.server.deadlines.next_deadline() is not None  # the heap still drives the healthy one
