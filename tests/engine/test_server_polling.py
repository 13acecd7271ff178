"""EngineServer (engine/engine_server.py): long-polling POST/GET, poll limits, volatile, bounds."""

from __future__ import annotations

import pytest

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    OutgoingMessage,
    State,
)
from flask_realtime.engine.message import messages_of
from flask_realtime.protocol.engineio import Packet, PacketType

from .helpers import Harness

T = PacketType
TEXT = "text/plain; charset=UTF-8"

# -- polling: client to server -----------------------------------------------------------


def test_post_delivers_a_message(h: Harness) -> None:
    socket = h.open()
    exchange = h.post(socket, "4hello")
    assert exchange.status == 200
    assert exchange.body == b"ok"
    assert exchange.header("Content-Type") == "text/html"
    assert h.handler.messages(socket) == ["hello"]


def test_post_delivers_several_packets_in_order_with_binary(h: Harness) -> None:
    socket = h.open()
    assert h.post(socket, "4one\x1ebAAEC/w==\x1e4\x1e6\x1e4two").body == b"ok"
    assert h.handler.messages(socket) == ["one", b"\x00\x01\x02\xff", "", "two"]
    assert socket.state is State.OPEN


@pytest.mark.parametrize(
    "body",
    [b"", b"9", b"4a\x1ebnot base64!", b"\xff\xfe", b"4a\x1e\x1e4b"],
    ids=["empty", "unknown-type", "bad-base64", "not-utf8", "empty-packet"],
)
def test_post_of_an_invalid_payload_closes_the_session(h: Harness, body: bytes) -> None:
    socket = h.open()
    parked = h.get(socket)
    exchange = h.post(socket, body)
    status, code, _ = exchange.error()
    assert (status, code) == (400, 3)
    assert socket.state is State.CLOSED
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]
    assert h.handler.messages(socket) == []
    assert parked.body == b"1"
    assert h.get(socket).error()[1] == 1


def test_post_over_max_http_buffer_size_closes_the_session() -> None:
    h = Harness(EngineOptions(max_http_buffer_size=10))
    socket = h.open()
    assert h.post(socket, "4" + "x" * 9).status == 200
    status, code, message = h.post(socket, "4" + "x" * 10).error()
    assert (status, code) == (400, 3)
    assert "max_http_buffer_size" in message
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]
    assert h.handler.messages(socket) == ["x" * 9]


def test_post_of_too_many_packets_is_refused() -> None:
    h = Harness(EngineOptions(max_payload_packets=2))
    socket = h.open()
    assert h.post(socket, "4a\x1e4b").status == 200
    assert h.post(socket, "4a\x1e4b\x1e4c").status == 400
    assert h.handler.messages(socket) == ["a", "b"]
    assert socket.closed


def test_post_close_while_a_get_is_parked(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    assert parked.parked
    assert h.post(socket, "1").body == b"ok"
    assert parked.body == b"6"
    assert h.handler.closes(socket) == [CloseReason.CLIENT_DISCONNECT]
    assert socket.sid not in h.server.sessions
    assert h.get(socket).error()[1] == 1


def test_packets_after_a_close_in_the_same_payload_are_ignored(h: Harness) -> None:
    socket = h.open()
    assert h.post(socket, "4before\x1e1\x1e4after").body == b"ok"
    assert h.handler.messages(socket) == ["before"]
    assert h.handler.closes(socket) == [CloseReason.CLIENT_DISCONNECT]


def test_post_to_a_closing_session_is_ignored(h: Harness) -> None:
    socket = h.open()
    socket.close()
    assert h.post(socket, "4late").body == b"ok"
    assert h.handler.messages(socket) == []


# -- polling: server to client -----------------------------------------------------------


def test_get_returns_queued_messages_joined_by_record_separators(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("one"))
    socket.send(OutgoingMessage(b"\x01\x02"))
    socket.send(OutgoingMessage("three"))
    exchange = h.get(socket)
    assert exchange.immediate
    assert exchange.body == b"4one\x1ebAQI=\x1e4three"
    assert exchange.header("Content-Type") == TEXT
    assert h.get(socket).parked  # the queue is empty again


def test_get_parks_until_something_is_sent(h: Harness) -> None:
    socket = h.open()
    exchange = h.get(socket)
    assert exchange.parked
    assert exchange.result is socket
    socket.send(OutgoingMessage("hi"))
    assert not exchange.immediate
    assert exchange.body == b"4hi"
    assert exchange.header("Content-Type") == TEXT
    socket.send(OutgoingMessage("queued"))
    assert len(exchange.later) == 1  # answered once; the next message waits
    assert h.get(socket).body == b"4queued"


def test_second_get_while_one_is_parked_closes_the_session(h: Harness) -> None:
    socket = h.open()
    first = h.get(socket)
    second = h.get(socket)
    assert second.error()[:2] == (400, 3)
    assert first.body == b"1"
    assert socket.state is State.CLOSED
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]
    assert h.get(socket).error()[:2] == (400, 1)
    assert h.post(socket, "4x").error()[:2] == (400, 1)


def test_poll_aborted_closes_the_session(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    socket.poll_aborted()
    assert parked.later == []  # nobody to answer
    assert socket.state is State.CLOSED
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_CLOSE]
    assert socket.sid not in h.server.sessions
    socket.send(OutgoingMessage("lost"))
    assert parked.later == []


def test_poll_aborted_without_a_parked_get_does_nothing(h: Harness) -> None:
    socket = h.open()
    socket.poll_aborted()
    assert socket.state is State.OPEN
    socket_ws, _ = h.open_websocket()
    socket_ws.poll_aborted()
    assert socket_ws.state is State.OPEN
    assert h.handler.closes() == []


def test_get_and_post_after_upgrade_are_refused_and_the_session_stays(h: Harness) -> None:
    socket = h.open()
    ws = h.probe(socket)
    socket.receive_probe(Packet(T.PING, "probe"), h.now)
    socket.receive_probe(Packet(T.UPGRADE), h.now)
    status, code, message = h.get(socket).error()
    assert (status, code) == (400, 3)
    assert "transport mismatch" in message
    status, code, message = h.post(socket, "4x").error()
    assert (status, code) == (400, 3)
    assert "websocket" in message
    assert socket.state is State.OPEN
    assert h.handler.closes() == []
    assert h.handler.messages() == []
    socket.send(OutgoingMessage("still here"))
    assert ws.take()[-1] == Packet(T.MESSAGE, "still here")


def test_get_on_a_websocket_session_is_refused(h: Harness) -> None:
    socket, _ = h.open_websocket()
    assert h.get(socket).error()[:2] == (400, 3)
    assert socket.state is State.OPEN


PYTHON_CLIENTS = [
    "python-requests/2.32.3",
    "Python/3.11 aiohttp/3.9.5",
]


@pytest.mark.parametrize("agent", PYTHON_CLIENTS)
def test_python_clients_get_at_most_16_packets_per_poll(h: Harness, agent: str) -> None:
    # python-engineio's client drops the connection on a payload of more than 16 packets.
    socket = h.open(headers={"user-agent": agent})
    for n in range(40):
        socket.send(OutgoingMessage(f"m{n}"))
    sizes, seen = [], []
    for _ in range(3):
        packets = h.get(socket).packets()
        sizes.append(len(packets))
        seen.extend(p.data for p in packets)
    assert sizes == [16, 16, 8]
    assert seen == [f"m{n}" for n in range(40)]  # nothing lost, order kept


def test_browsers_get_everything_queued_in_one_poll(h: Harness) -> None:
    socket = h.open(headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"})
    for n in range(40):
        socket.send(OutgoingMessage(f"m{n}"))
    assert len(h.get(socket).packets()) == 40


def test_a_closing_python_session_delivers_everything_before_the_close_packet(
    h: Harness,
) -> None:
    socket = h.open(headers={"user-agent": PYTHON_CLIENTS[0]})
    for n in range(20):
        socket.send(OutgoingMessage(f"m{n}"))
    socket.close()  # no GET parked: the session waits in CLOSING for the client's polls
    first, second = h.get(socket).packets(), h.get(socket).packets()
    assert len(first) == 16
    assert [p.type for p in second] == [PacketType.MESSAGE] * 4 + [PacketType.CLOSE]
    assert h.get(socket).status == 400  # then the sid is unknown


def test_volatile_messages_are_dropped_while_no_poll_is_parked(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("kept"))
    socket.send(OutgoingMessage("dropped", volatile=True))  # nothing can take it now
    assert [p.data for p in h.get(socket).packets()] == ["kept"]
    parked = h.get(socket)
    socket.send(OutgoingMessage("delivered", volatile=True))  # a GET is waiting for it
    assert [p.data for p in parked.packets()] == ["delivered"]


def test_a_volatile_packet_with_attachments_is_dropped_whole_or_sent_whole(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    # Sent: the parked GET takes the head; the attachments follow it (buffered).
    for message in messages_of(["51-head", b"\x01"], volatile=True):
        socket.send(message)
    assert [p.data for p in parked.packets()] == ["51-head"]
    # Dropped: nothing can take the head now, so its attachment goes too, not the
    # text packet after it (the client would take that for the missing attachment).
    for message in messages_of(["51-dropped", b"\x02"], volatile=True):
        socket.send(message)
    socket.send(OutgoingMessage("2after"))
    assert [p.data for p in h.get(socket).packets()] == [b"\x01", "2after"]


def test_a_client_that_stops_polling_is_closed_once_its_queue_passes_the_bound() -> None:
    h = Harness(EngineOptions(max_buffered_bytes=10_000))
    socket = h.open()
    for _ in range(9):
        socket.send(OutgoingMessage("x" * 1000))
    assert not socket.closed  # 9 000 bytes wait: under the bound
    socket.send(OutgoingMessage("x" * 1001))
    assert socket.closed
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]
    assert h.get(socket).status == 400  # gone: the queue is freed


def test_what_a_poll_takes_no_longer_counts_against_the_bound() -> None:
    h = Harness(EngineOptions(max_buffered_bytes=10_000))
    socket = h.open()
    for _ in range(3):
        for _ in range(9):
            socket.send(OutgoingMessage("x" * 1000))
        assert len(h.get(socket).packets()) == 9
    assert not socket.closed
