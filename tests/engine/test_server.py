"""EngineServer (engine/server.py): handshake, request routing, polling, the timer heap.

Driven sans-I/O: EngineRequest in, EngineResponse (or a parked GET) out, time as numbers.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Sequence
from typing import Any

import pytest

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    EngineResponse,
    EngineSocket,
    OutgoingMessage,
    State,
)
from flask_realtime.engine.transport import Outgoing
from flask_realtime.protocol import engineio_v3
from flask_realtime.protocol.engineio import Packet, PacketType

from .helpers import START, Exchange, Harness, MemoryTransport, as_packet, open_data

T = PacketType
TEXT = "text/plain; charset=UTF-8"

# -- handshake ---------------------------------------------------------------------------


def test_handshake_opens_a_session_with_the_open_packet(h: Harness) -> None:
    exchange = h.handshake()
    assert exchange.status == 200
    assert exchange.header("Content-Type") == TEXT
    assert exchange.body.startswith(b"0{")
    data = open_data(exchange.body)
    assert data == {
        "sid": data["sid"],
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1_000_000,
    }
    socket = h.server.sessions[data["sid"]]
    assert h.handler.opened() == [socket]
    assert socket.sid == data["sid"]
    assert socket.protocol == 4
    assert socket.transport == "polling"
    assert socket.state is State.OPEN
    assert not socket.closed


def test_handshake_reports_times_in_whole_milliseconds() -> None:
    h = Harness(EngineOptions(ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=1234))
    data = open_data(h.handshake().body)
    assert (data["pingInterval"], data["pingTimeout"], data["maxPayload"]) == (300, 200, 1234)
    assert isinstance(data["pingInterval"], int)


@pytest.mark.parametrize(
    "options",
    [EngineOptions(allow_upgrades=False), EngineOptions(transports=("polling",))],
    ids=["upgrades-off", "polling-only"],
)
def test_handshake_offers_no_upgrade_when_websocket_cannot_be_used(
    options: EngineOptions,
) -> None:
    assert open_data(Harness(options).handshake().body)["upgrades"] == []


def test_v3_handshake_is_a_text_payload_without_max_payload(h: Harness) -> None:
    exchange = h.handshake(eio="3")
    assert exchange.header("Content-Type") == TEXT
    data = open_data(exchange.body, 3)
    assert "maxPayload" not in data
    assert data["upgrades"] == ["websocket"]
    assert (data["pingInterval"], data["pingTimeout"]) == (25000, 20000)
    length, _, packet = exchange.body.partition(b":")
    assert packet.startswith(b"0{")
    assert int(length) == len(packet)
    assert h.server.sessions[data["sid"]].protocol == 3


def test_sids_are_distinct_and_url_safe(h: Harness) -> None:
    sids = {h.open().sid for _ in range(20)}
    assert len(sids) == 20
    for sid in sids:
        assert len(sid) == 20
        assert sid.replace("-", "").replace("_", "").isalnum()


def test_handshake_keeps_the_opening_request(h: Harness) -> None:
    socket = h.open(query="token=abc&x=1&x=2", headers={"user-agent": "test"})
    hs = socket.handshake
    assert hs.method == "GET"
    assert hs.path == "/socket.io/"
    assert hs.query_string == "EIO=4&transport=polling&token=abc&x=1&x=2"
    assert hs.query["token"] == ["abc"]
    assert hs.query["x"] == ["1", "2"]
    assert hs.headers["user-agent"] == "test"
    assert hs.remote_addr == ("203.0.113.7", 50123)
    assert hs.scheme == "http"
    assert hs.environ["QUERY_STRING"] == hs.query_string
    assert hs.environ["HTTP_USER_AGENT"] == "test"


def test_no_cookie_by_default(h: Harness) -> None:
    assert h.handshake().header("Set-Cookie") is None


def test_cookie_named_by_a_string() -> None:
    h = Harness(EngineOptions(cookie="io"))
    exchange = h.handshake()
    sid = open_data(exchange.body)["sid"]
    assert exchange.header("Set-Cookie") == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"


def test_cookie_from_a_dict() -> None:
    cookie = {"name": "eio", "path": "/app", "httpOnly": False, "sameSite": "Strict"}
    h = Harness(EngineOptions(cookie={**cookie, "secure": True}))
    exchange = h.handshake()
    sid = open_data(exchange.body)["sid"]
    assert exchange.header("Set-Cookie") == f"eio={sid}; Path=/app; SameSite=Strict; Secure"


def test_cookie_dict_with_python_names_and_no_same_site() -> None:
    h = Harness(EngineOptions(cookie={"http_only": True, "same_site": None}))
    exchange = h.handshake()
    sid = open_data(exchange.body)["sid"]
    assert exchange.header("Set-Cookie") == f"io={sid}; Path=/; HttpOnly"


def test_session_opened_on_websocket_sends_open_without_upgrades(h: Harness) -> None:
    socket, ws = h.open_websocket()
    (packet,) = ws.take()
    assert packet.type is T.OPEN
    assert isinstance(packet.data, str)
    data = json.loads(packet.data)
    assert data["upgrades"] == []
    assert data["sid"] == socket.sid
    assert data["maxPayload"] == 1_000_000
    assert socket.transport == "websocket"
    assert h.handler.opened() == [socket]
    assert h.server.sessions[socket.sid] is socket


# -- request errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eio", "named"),
    [
        (None, "no EIO parameter"),
        ("5", "EIO=5"),
        ("2", "EIO=2"),
        ("", "EIO="),
        ("four", "EIO=four"),
        ("\u00b2", "EIO=\u00b2"),  # a digit to str.isdigit(), not to int()
        ("04", "EIO=04"),
    ],
)
def test_unsupported_protocol_version(h: Harness, eio: str | None, named: str) -> None:
    status, code, message = h.handshake(eio=eio).error()
    assert (status, code) == (400, 5)
    assert named in message
    assert "Engine.IO 4" in message
    assert "Engine.IO 3" in message
    assert h.server.sessions == {}
    assert h.handler.events == []


def test_protocol_version_in_the_message_is_cut_short(h: Harness) -> None:
    _, _, message = h.handshake(eio="9" * 100).error()
    assert "EIO=" + "9" * 16 + ";" in message


@pytest.mark.parametrize("transport", [None, "", "flashsocket", "WEBSOCKET"])
def test_unknown_transport(h: Harness, transport: str | None) -> None:
    assert h.handshake(transport=transport).error() == (400, 0, "Transport unknown")
    assert h.server.sessions == {}


def test_websocket_transport_is_unknown_when_not_served() -> None:
    h = Harness(EngineOptions(transports=("websocket",)))
    assert h.handshake().error() == (400, 0, "Transport unknown")


def test_websocket_transport_over_plain_http_is_a_bad_request(h: Harness) -> None:
    assert h.handshake(transport="websocket").error() == (400, 3, "Transport mismatch")


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_handshake_must_be_a_get(h: Harness, method: str) -> None:
    assert h.handshake(method=method, body=b"4x").error() == (400, 2, "Bad handshake method")
    assert h.server.sessions == {}


def test_unknown_sid(h: Harness) -> None:
    for method in ("GET", "POST"):
        exchange = h.send(h.request(method, sid="nope", body=b"4x"))
        assert exchange.error() == (400, 1, "Session ID unknown")


def test_other_methods_on_a_session_are_bad_requests(h: Harness) -> None:
    socket = h.open()
    assert h.send(h.request("PUT", sid=socket.sid)).error() == (400, 3, "Bad request method")
    assert not socket.closed


def test_max_connections() -> None:
    h = Harness(EngineOptions(max_connections=2))
    first = h.open()
    h.open()
    status, code, message = h.handshake().error()
    assert (status, code, message) == (503, 3, "Too many connections")
    assert len(h.server.sessions) == 2
    first.close()  # polling, no GET parked: CLOSING, still counted
    assert h.handshake().status == 503
    h.get(first)  # takes the close packet: the session is gone
    assert h.handshake().status == 200


def test_max_connections_counts_websocket_sessions_too() -> None:
    h = Harness(EngineOptions(max_connections=1))
    h.open()
    request = h.request(transport="websocket")
    refused = h.server.check_websocket(request)
    assert isinstance(refused, EngineResponse)
    assert refused.status == 503


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


# -- compression -------------------------------------------------------------------------

BIG = "x" * 2000


def test_large_payload_is_gzipped_when_accepted(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage(BIG))
    exchange = h.get(socket, headers={"accept-encoding": "gzip, deflate, br"})
    assert exchange.header("Content-Encoding") == "gzip"
    assert gzip.decompress(exchange.body) == b"4" + BIG.encode()
    assert len(exchange.body) < len(BIG)


def test_parked_get_is_compressed_too(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket, headers={"accept-encoding": "gzip"})
    socket.send(OutgoingMessage(BIG))
    assert parked.header("Content-Encoding") == "gzip"
    assert gzip.decompress(parked.body) == b"4" + BIG.encode()


def test_deflate_when_gzip_is_not_accepted(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage(BIG))
    exchange = h.get(socket, headers={"accept-encoding": "deflate"})
    assert exchange.header("Content-Encoding") == "deflate"
    assert zlib.decompress(exchange.body) == b"4" + BIG.encode()


@pytest.mark.parametrize(
    ("size", "accept"),
    [
        (1022, "gzip"),  # 1023 bytes with the "4": one under the threshold
        (2000, None),
        (2000, "br"),
        (2000, "gzip;q=0, deflate;q=0"),
    ],
)
def test_no_compression(h: Harness, size: int, accept: str | None) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("y" * size))
    headers = {"accept-encoding": accept} if accept is not None else {}
    exchange = h.get(socket, headers=headers)
    assert exchange.header("Content-Encoding") is None
    assert exchange.body == b"4" + b"y" * size


def test_compression_starts_at_the_threshold(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("y" * 1023))
    exchange = h.get(socket, headers={"accept-encoding": "gzip"})
    assert exchange.header("Content-Encoding") == "gzip"


def test_compression_can_be_turned_off() -> None:
    h = Harness(EngineOptions(http_compression=False))
    socket = h.open()
    socket.send(OutgoingMessage(BIG))
    exchange = h.get(socket, headers={"accept-encoding": "gzip"})
    assert exchange.header("Content-Encoding") is None
    assert exchange.body == b"4" + BIG.encode()


# -- Engine.IO v3 payloads ---------------------------------------------------------------


def test_v3_text_payload_both_ways_with_b64(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    assert h.post(socket, "6:4hello2:4\u20ac10:b4AAEC/w==").body == b"ok"
    assert h.handler.messages(socket) == ["hello", "\u20ac", b"\x00\x01\x02\xff"]
    socket.send(OutgoingMessage("hi \u20ac"))
    socket.send(OutgoingMessage(b"\x00\x01"))
    exchange = h.get(socket)
    assert exchange.header("Content-Type") == TEXT
    assert exchange.body == "5:4hi \u20ac6:b4AAE=".encode()


def test_v3_binary_payload_both_ways(h: Harness) -> None:
    socket = h.open(eio="3")
    body = engineio_v3.encode_binary_payload(
        [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, b"\x00\xff")]
    )
    exchange = h.post(socket, body, headers={"content-type": "application/octet-stream"})
    assert exchange.body == b"ok"
    assert h.handler.messages(socket) == ["hello", b"\x00\xff"]
    socket.send(OutgoingMessage("hi"))
    socket.send(OutgoingMessage(b"\x00\x01"))
    exchange = h.get(socket)
    assert exchange.header("Content-Type") == "application/octet-stream"
    assert exchange.body == b"\x00\x03\xff4hi" + b"\x01\x03\xff\x04\x00\x01"


def test_v3_payload_without_binary_is_text_even_for_binary_clients(h: Harness) -> None:
    # As Node's engine.io-parser v2: a binary payload only when a packet is binary.
    socket = h.open(eio="3")
    socket.send(OutgoingMessage("hi"))
    exchange = h.get(socket)
    assert exchange.header("Content-Type") == TEXT
    assert exchange.body == b"3:4hi"


def test_v3_text_post_from_a_binary_client(h: Harness) -> None:
    socket = h.open(eio="3")
    assert h.post(socket, "6:4hello").body == b"ok"
    assert h.handler.messages(socket) == ["hello"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe", "text/plain;charset=UTF-8"),
        (b"4:4hi", "text/plain"),  # the length runs past the end
        (b"\x00\x09\xff4hi", "application/octet-stream"),
    ],
)
def test_v3_invalid_post_closes_the_session(h: Harness, body: bytes, content_type: str) -> None:
    socket = h.open(eio="3")
    assert h.post(socket, body, headers={"content-type": content_type}).status == 400
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]


def test_v3_post_of_too_many_packets_is_refused() -> None:
    h = Harness(EngineOptions(max_payload_packets=2))
    socket = h.open(eio="3")
    assert h.post(socket, "2:4a2:4b").status == 200
    assert h.post(socket, "2:4a2:4b2:4c").status == 400
    binary = engineio_v3.encode_binary_payload([Packet(T.MESSAGE, b"x")] * 3)
    other = h.open(eio="3")
    headers = {"content-type": "application/octet-stream"}
    assert h.post(other, binary, headers=headers).status == 400
    assert h.handler.messages() == ["a", "b"]


# -- check_websocket -----------------------------------------------------------------------


def test_check_websocket_new_session(h: Harness) -> None:
    assert h.server.check_websocket(h.request(transport="websocket")) is None


def test_check_websocket_for_an_upgrade_returns_the_session(h: Harness) -> None:
    socket = h.open()
    request = h.request(transport="websocket", sid=socket.sid)
    assert h.server.check_websocket(request) is socket


def _refusal(h: Harness, **kwargs: Any) -> tuple[int, int, str]:
    kwargs.setdefault("transport", "websocket")
    answer = h.server.check_websocket(h.request(**kwargs))
    assert isinstance(answer, EngineResponse)
    return Exchange(answer).error()


def test_check_websocket_refusals(h: Harness) -> None:
    assert _refusal(h, sid="nope") == (400, 1, "Session ID unknown")
    assert _refusal(h, eio="7")[:2] == (400, 5)
    assert _refusal(h, eio=None)[:2] == (400, 5)
    assert _refusal(h, headers={"origin": "http://evil.example"})[:2] == (403, 4)


def test_check_websocket_transport_mismatch(h: Harness) -> None:
    socket = h.open()
    assert _refusal(h, transport="polling", sid=socket.sid) == (400, 3, "Transport mismatch")
    assert socket.state is State.OPEN


# A session that cannot upgrade now is still returned: as Node does, the runtime accepts
# that WebSocket and closes it at once (it asks can_upgrade()).


def test_check_websocket_for_a_session_already_upgrading(h: Harness) -> None:
    socket = h.open()
    h.probe(socket)
    request = h.request(transport="websocket", sid=socket.sid)
    assert h.server.check_websocket(request) is socket
    assert not socket.can_upgrade()


def test_check_websocket_when_upgrades_are_off() -> None:
    h = Harness(EngineOptions(allow_upgrades=False))
    socket = h.open()
    request = h.request(transport="websocket", sid=socket.sid)
    assert h.server.check_websocket(request) is socket
    assert not socket.can_upgrade()
    # A new session directly on WebSocket is still allowed.
    assert h.server.check_websocket(h.request(transport="websocket")) is None


def test_check_websocket_when_websocket_is_not_served() -> None:
    h = Harness(EngineOptions(transports=("polling",)))
    socket = h.open()
    assert _refusal(h, sid=socket.sid) == (400, 0, "Transport unknown")
    assert _refusal(h) == (400, 0, "Transport unknown")


def test_check_websocket_for_sessions_that_cannot_upgrade(h: Harness) -> None:
    on_ws, _ = h.open_websocket()
    closing = h.open()
    closing.close()
    for socket in (on_ws, closing):
        request = h.request(transport="websocket", sid=socket.sid)
        assert h.server.check_websocket(request) is socket
        assert not socket.can_upgrade()


# -- close_all ---------------------------------------------------------------------------


def test_close_all(h: Harness) -> None:
    _, ws = h.open_websocket()
    parked_socket = h.open()
    parked = h.get(parked_socket)
    idle = h.open()
    idle.send(OutgoingMessage("bye"))
    ws.take()
    h.server.close_all()
    assert h.handler.closes() == [CloseReason.SERVER_SHUTDOWN] * 3
    assert ws.closes == [False]
    assert parked.body == b"1"
    assert idle.state is State.CLOSING
    assert list(h.server.sessions) == [idle.sid]
    assert h.get(idle).body == b"4bye\x1e1"
    assert h.server.sessions == {}
    h.server.close_all()
    assert len(h.handler.closes()) == 3


# -- the timer heap ----------------------------------------------------------------------


def test_server_without_sessions_has_no_deadline(h: Harness) -> None:
    assert h.server.next_deadline() is None
    h.server.handle_timers(START + 1e6)
    assert h.wakeups == []


def test_handle_timers_runs_only_due_sessions(h: Harness) -> None:
    early = h.open()
    h.now += 10
    late = h.open()
    early_get, late_get = h.get(early), h.get(late)
    h.server.handle_timers(START + 25)
    assert early_get.body == b"2"
    assert late_get.parked
    h.server.handle_timers(START + 35)
    assert late_get.body == b"2"


def test_handle_timers_before_any_deadline_does_nothing(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    h.server.handle_timers(START + 24.999)
    assert parked.parked
    assert h.server.next_deadline() == START + 25


def test_on_timer_change_only_for_an_earlier_deadline(h: Harness) -> None:
    first = h.open()
    assert h.wakeups == [START + 25]
    h.now += 1
    h.open()  # due later than the first: the runtime's timer stands
    assert h.wakeups == [START + 25]
    h.probe(first)  # upgrade timeout: 10 s, earlier than any heartbeat
    assert h.wakeups == [START + 25, START + 11]
    assert h.server.next_deadline() == START + 11


def test_on_timer_change_is_optional() -> None:
    h = Harness()
    h.server.on_timer_change = None
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
    h.server.handle_timers(START + 54.9)
    assert parked.parked
    h.advance(10)
    assert parked.body == b"2"


def test_closed_sessions_timers_lapse(h: Harness) -> None:
    socket, ws = h.open_websocket()
    socket.close()
    h.advance(100)
    assert h.handler.closes() == [CloseReason.SERVER_DISCONNECT]
    assert [p.type for p in ws.take()] == [T.OPEN]
    assert h.server.next_deadline() is None


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


def test_a_pinging_v3_client_does_not_grow_the_timer_heap(h: Harness) -> None:
    socket, _ws = h.open_websocket(eio="3")
    before = len(h.server._timers)
    for n in range(1000):  # each ping moves the deadline later
        h.now = START + n * 0.01
        socket.receive(Packet(T.PING), h.now)
    assert len(h.server._timers) <= before + 1
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
    assert h.server.next_deadline() is not None  # the heap still drives the healthy one
