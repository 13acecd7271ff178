"""EngineServer (engine/engine_server.py): handshake, cookies, request errors, max_connections."""

from __future__ import annotations

import json

import pytest

from flask_realtime.engine import (
    EngineOptions,
    EngineResponse,
    State,
)
from flask_realtime.protocol.engineio import PacketType

from .helpers import Harness, open_data

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
    assert socket.transport_name == "polling"
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
    assert socket.transport_name == "websocket"
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
