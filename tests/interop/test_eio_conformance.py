"""Engine.IO v4 conformance over raw HTTP and WebSocket, in our own words.

The behaviours that the official suite (socketio/socket.io,
``docs/engine.io-protocol/v4-test-suite/test-suite.js``) checks, with the server settings
it expects (path ``/engine.io/``, ping interval 300 ms, ping timeout 200 ms), written as
Python tests with ``requests`` and ``websocket-client``; plus the answer to a protocol
version we do not speak. Where the suite sleeps, these tests wait on the server's own
record of what happened (the echo handler's ``on_close``), with a deadline.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import websocket

from .support import EchoServer, wait_until

pytestmark = pytest.mark.interop

SEP = "\x1e"
TIMEOUT = 5


# -- helpers --------------------------------------------------------------------------------


def eio(server: EchoServer, query: str) -> str:
    return f"{server.eio_url}?{query}"


def handshake(server: EchoServer) -> str:
    response = requests.get(eio(server, "EIO=4&transport=polling"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.text.startswith("0")
    return str(json.loads(response.text[1:])["sid"])


def poll(server: EchoServer, sid: str, extra: str = "") -> requests.Response:
    return requests.get(eio(server, f"EIO=4&transport=polling&sid={sid}{extra}"), timeout=TIMEOUT)


def post(server: EchoServer, sid: str, body: str | bytes) -> requests.Response:
    return requests.post(
        eio(server, f"EIO=4&transport=polling&sid={sid}"), data=body, timeout=TIMEOUT
    )


def assert_json_error(response: requests.Response | Any, status: int, code: int) -> dict[str, Any]:
    """A ``{"code": ..., "message": ...}`` error body, as Node's engine.io answers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


@contextmanager
def ws_connect(server: EchoServer, query: str) -> Iterator[websocket.WebSocket]:
    ws = websocket.create_connection(
        server.ws_url + server.options.url_path + "?" + query, timeout=TIMEOUT
    )
    try:
        yield ws
    finally:
        ws_close(ws)


def ws_close(ws: websocket.WebSocket) -> None:
    """Close politely, then release the socket (websocket-client keeps it open when the
    server sent the close frame first)."""
    ws.close(timeout=1)
    ws.shutdown()


def ws_open(server: EchoServer) -> Iterator[websocket.WebSocket]:
    return ws_connect(server, "EIO=4&transport=websocket")


def ws_recv(ws: websocket.WebSocket) -> str | bytes:
    """The next text or binary message; fails if the server closes instead."""
    opcode, data = ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_TEXT:
        return str(data, "utf-8")
    if opcode == websocket.ABNF.OPCODE_BINARY:
        return bytes(data)
    pytest.fail(f"expected a message, got opcode {opcode} {data!r}")


def ws_handshake(ws: websocket.WebSocket) -> dict[str, Any]:
    first = ws_recv(ws)
    assert isinstance(first, str)
    assert first.startswith("0")
    value: dict[str, Any] = json.loads(first[1:])
    return value


def ws_wait_closed(ws: websocket.WebSocket) -> list[str | bytes]:
    """Read until the server closes the WebSocket; returns the messages before the close."""
    messages: list[str | bytes] = []
    while True:
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            pytest.fail(f"the server did not close the WebSocket; got {messages}")
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return messages
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages
        messages.append(str(data, "utf-8") if opcode == websocket.ABNF.OPCODE_TEXT else data)


def ws_refused(server: EchoServer, query: str) -> websocket.WebSocketBadStatusException:
    url = server.ws_url + server.options.url_path + "?" + query
    try:
        ws = websocket.create_connection(url, timeout=TIMEOUT)
    except websocket.WebSocketBadStatusException as exc:
        return exc
    ws_close(ws)
    pytest.fail(f"the server accepted a WebSocket at {url}")


class BodyOf:
    """A refused WebSocket handshake seen like a ``requests`` response (for the asserts)."""

    def __init__(self, exc: websocket.WebSocketBadStatusException) -> None:
        self.status_code = exc.status_code
        self.headers = {k.lower(): v for k, v in (exc.resp_headers or {}).items()}
        self.text = (exc.resp_body or b"").decode()

    def json(self) -> Any:
        return json.loads(self.text)


def upgrade(server: EchoServer, sid: str) -> websocket.WebSocket:
    """Probe and complete an upgrade of polling session ``sid``; returns the WebSocket."""
    ws = websocket.create_connection(
        server.ws_url + server.options.url_path + f"?EIO=4&transport=websocket&sid={sid}",
        timeout=TIMEOUT,
    )
    ws.send("2probe")
    assert ws_recv(ws) == "3probe"
    ws.send("5")
    return ws


# -- handshake ------------------------------------------------------------------------------


def test_polling_handshake(eio_server: EchoServer) -> None:
    response = requests.get(eio(eio_server, "EIO=4&transport=polling"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("0")
    value = json.loads(response.text[1:])
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str)
    assert value["sid"]
    assert value["upgrades"] == ["websocket"]
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == 1_000_000
    eio_server.handler.wait_for(value["sid"], "open")


def test_websocket_handshake(eio_server: EchoServer) -> None:
    with ws_open(eio_server) as ws:
        value = ws_handshake(ws)
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert isinstance(value["sid"], str)
    assert value["upgrades"] == []
    assert value["pingInterval"] == 300
    assert value["pingTimeout"] == 200
    assert value["maxPayload"] == 1_000_000


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling"])
def test_polling_bad_eio(eio_server: EchoServer, query: str) -> None:
    response = requests.get(eio(eio_server, query), timeout=TIMEOUT)
    assert_json_error(response, 400, 5)


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
def test_polling_bad_transport(eio_server: EchoServer, query: str) -> None:
    response = requests.get(eio(eio_server, query), timeout=TIMEOUT)
    body = assert_json_error(response, 400, 0)
    assert body["message"] == "Transport unknown"


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_polling_handshake_bad_method(eio_server: EchoServer, method: str) -> None:
    response = requests.request(
        method, eio(eio_server, "EIO=4&transport=polling"), data=b"4x", timeout=TIMEOUT
    )
    body = assert_json_error(response, 400, 2)
    assert body["message"] == "Bad handshake method"


@pytest.mark.parametrize("query", ["transport=websocket", "EIO=abc&transport=websocket"])
def test_websocket_bad_eio(eio_server: EchoServer, query: str) -> None:
    assert_json_error(BodyOf(ws_refused(eio_server, query)), 400, 5)


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
def test_websocket_bad_transport(eio_server: EchoServer, query: str) -> None:
    assert_json_error(BodyOf(ws_refused(eio_server, query)), 400, 0)


@pytest.mark.parametrize("version", ["2", "5"])
def test_unsupported_version_names_sent_and_served(eio_server: EchoServer, version: str) -> None:
    over_polling = requests.get(eio(eio_server, f"EIO={version}&transport=polling"), timeout=5)
    over_websocket = BodyOf(ws_refused(eio_server, f"EIO={version}&transport=websocket"))
    for response in (over_polling, over_websocket):
        message = assert_json_error(response, 400, 5)["message"]
        # The version the client sent, and the versions this server speaks (4 and 3).
        assert f"EIO={version}" in message
        served = message.replace(f"EIO={version}", "")
        assert re.search(r"\b4\b", served), message
        assert re.search(r"\b3\b", served), message


# -- messages over polling ----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["4hello", f"4test1{SEP}4test2{SEP}4test3", f"4hello{SEP}bAQIDBA=="],
    ids=["one", "several", "text-and-binary"],
)
def test_polling_post_and_poll(eio_server_normal: EchoServer, payload: str) -> None:
    server = eio_server_normal
    sid = handshake(server)
    pushed = post(server, sid, payload)
    assert pushed.status_code == 200
    assert pushed.text == "ok"
    # The echo handler sent each message back; the GET takes them all as one payload.
    polled = poll(server, sid)
    assert polled.status_code == 200
    assert polled.text == payload
    seen = [s.data for s in server.handler.events(sid, "message")]
    expected = [b"\x01\x02\x03\x04" if p.startswith("b") else p[1:] for p in payload.split(SEP)]
    assert seen == expected


def test_polling_invalid_packet_closes_session(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    pushed = post(server, sid, "abc")
    assert_json_error(pushed, 400, 3)
    assert server.handler.close_reason(sid) == "transport error"
    assert_json_error(poll(server, sid), 400, 1)


def test_duplicate_poll_closes_session(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(poll, server, sid)
        wait_until(lambda: server.poll_parked(sid), what="the first GET to be parked")
        second = poll(server, sid, "&t=burst")
        assert second.status_code == 400
        answered = first.result(timeout=TIMEOUT)
    # The parked GET is answered with a CLOSE packet.
    assert answered.status_code == 200
    assert answered.text == "1"
    assert server.handler.close_reason(sid) == "transport error"
    assert_json_error(poll(server, sid), 400, 1)


def test_aborted_poll_closes_session(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        raw.sendall(
            f"GET {server.options.url_path}?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n\r\n".encode()
        )
        wait_until(lambda: server.poll_parked(sid), what="the GET to be parked")
    finally:
        raw.close()
    assert server.handler.close_reason(sid) == "transport close"
    assert_json_error(poll(server, sid), 400, 1)


# -- messages over WebSocket ----------------------------------------------------------------


def test_websocket_text_and_binary(eio_server_normal: EchoServer) -> None:
    with ws_open(eio_server_normal) as ws:
        sid = ws_handshake(ws)["sid"]
        ws.send("4hello")
        assert ws_recv(ws) == "4hello"
        ws.send_binary(b"\x01\x02\x03\x04")
        assert ws_recv(ws) == b"\x01\x02\x03\x04"
        ws.send("4h\u00e9llo \U0001d11e")
        assert ws_recv(ws) == "4h\u00e9llo \U0001d11e"
    seen = eio_server_normal.handler.wait_for(sid, "message", count=3)
    assert [s.data for s in seen] == ["hello", b"\x01\x02\x03\x04", "h\u00e9llo \U0001d11e"]
    assert eio_server_normal.handler.close_reason(sid) == "transport close"


def test_websocket_invalid_packet_closes_session(eio_server_normal: EchoServer) -> None:
    with ws_open(eio_server_normal) as ws:
        sid = ws_handshake(ws)["sid"]
        ws.send("abc")
        assert ws_wait_closed(ws) == []
    assert eio_server_normal.handler.close_reason(sid) == "transport error"


# -- heartbeat ------------------------------------------------------------------------------


def test_polling_ping_pong(eio_server: EchoServer) -> None:
    sid = handshake(eio_server)
    for _ in range(3):
        polled = poll(eio_server, sid)
        assert polled.status_code == 200
        assert polled.text == "2"
        pushed = post(eio_server, sid, "3")
        assert pushed.status_code == 200
        assert pushed.text == "ok"
    assert eio_server.handler.events(sid, "close") == []


def test_polling_ping_timeout(eio_server: EchoServer) -> None:
    started = time.monotonic()
    sid = handshake(eio_server)
    (closed,) = eio_server.handler.wait_for(sid, "close", timeout=3)
    assert closed.data == "ping timeout"
    # pingInterval + pingTimeout = 500 ms after the handshake.
    assert 0.45 <= closed.at - started <= 1.5
    assert_json_error(poll(eio_server, sid), 400, 1)


def test_websocket_ping_pong(eio_server: EchoServer) -> None:
    with ws_open(eio_server) as ws:
        sid = ws_handshake(ws)["sid"]
        for _ in range(3):
            assert ws_recv(ws) == "2"
            ws.send("3")
        ws.send("4still open")
        assert ws_recv(ws) == "4still open"
    assert eio_server.handler.close_reason(sid) == "transport close"


def test_websocket_ping_timeout(eio_server: EchoServer) -> None:
    with ws_open(eio_server) as ws:
        started = time.monotonic()
        sid = ws_handshake(ws)["sid"]
        # Not answering the ping: the server closes the WebSocket.
        assert ws_wait_closed(ws) == ["2"]
    (closed,) = eio_server.handler.wait_for(sid, "close")
    assert closed.data == "ping timeout"
    assert 0.45 <= closed.at - started <= 1.5


# -- close ----------------------------------------------------------------------------------


def test_polling_forced_close(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(poll, server, sid)
        wait_until(lambda: server.poll_parked(sid), what="the GET to be parked")
        pushed = post(server, sid, "1")
        assert pushed.status_code == 200
        answered = parked.result(timeout=TIMEOUT)
    assert answered.status_code == 200
    assert answered.text == "6"
    assert server.handler.close_reason(sid) == "client disconnect"
    assert_json_error(poll(server, sid), 400, 1)


def test_websocket_forced_close(eio_server_normal: EchoServer) -> None:
    with ws_open(eio_server_normal) as ws:
        sid = ws_handshake(ws)["sid"]
        ws.send("1")
        assert ws_wait_closed(ws) == []
    assert eio_server_normal.handler.close_reason(sid) == "client disconnect"


def test_server_close_over_polling(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    assert post(server, sid, "4__close__").text == "ok"
    assert server.handler.close_reason(sid) == "server disconnect"
    # The client learns it from its next GET: a CLOSE packet; the session is then gone.
    polled = poll(server, sid)
    assert polled.status_code == 200
    assert polled.text == "1"
    assert_json_error(poll(server, sid), 400, 1)


def test_server_close_over_websocket(eio_server_normal: EchoServer) -> None:
    with ws_open(eio_server_normal) as ws:
        sid = ws_handshake(ws)["sid"]
        ws.send("4__close__")
        assert ws_wait_closed(ws) == []
    assert eio_server_normal.handler.close_reason(sid) == "server disconnect"


# -- upgrade --------------------------------------------------------------------------------


def test_upgrade(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    with ws_connect(server, f"EIO=4&transport=websocket&sid={sid}") as ws:
        ws.send("2probe")
        assert ws_recv(ws) == "3probe"
        # The GET of a client that is pausing polling is ended with a NOOP.
        polled = poll(server, sid)
        assert polled.status_code == 200
        assert polled.text == "6"
        ws.send("5")
        ws.send("4hello")
        # Nothing else (no extra NOOP) comes on the WebSocket before the echo.
        assert ws_recv(ws) == "4hello"
        seen = server.handler.wait_for(sid, "message")
        assert [(s.data, s.transport) for s in seen] == [("hello", "websocket")]


def test_upgrade_while_poll_parked(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(poll, server, sid)
        wait_until(lambda: server.poll_parked(sid), what="the GET to be parked")
        with ws_connect(server, f"EIO=4&transport=websocket&sid={sid}") as ws:
            ws.send("2probe")
            assert ws_recv(ws) == "3probe"
            # The probe ends the parked GET with a NOOP.
            answered = parked.result(timeout=TIMEOUT)
            assert answered.status_code == 200
            assert answered.text == "6"
            ws.send("5")
            ws.send("4after")
            assert ws_recv(ws) == "4after"


def test_polling_after_upgrade_refused(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    ws = upgrade(server, sid)
    try:
        wait_until(
            lambda: server.call(lambda: server.engine.sessions[sid].transport) == "websocket",
            what="the upgrade to complete",
        )
        assert_json_error(poll(server, sid), 400, 3)
        # The WebSocket carries on.
        ws.send("4hello")
        assert ws_recv(ws) == "4hello"
    finally:
        ws_close(ws)


def test_second_websocket_same_sid_refused(eio_server_normal: EchoServer) -> None:
    server = eio_server_normal
    sid = handshake(server)
    ws = upgrade(server, sid)
    try:
        wait_until(
            lambda: server.call(lambda: server.engine.sessions[sid].transport) == "websocket",
            what="the upgrade to complete",
        )
        # Refused: with an HTTP 400, or (as Node does) accepted and closed at once.
        url = server.ws_url + server.options.url_path + f"?EIO=4&transport=websocket&sid={sid}"
        refused: websocket.WebSocketBadStatusException | None = None
        try:
            second = websocket.create_connection(url, timeout=TIMEOUT)
        except websocket.WebSocketBadStatusException as exc:
            refused = exc
        if refused is not None:
            assert refused.status_code == 400
        else:
            try:
                assert ws_wait_closed(second) == []
            finally:
                ws_close(second)
        ws.send("4hello")
        assert ws_recv(ws) == "4hello"
    finally:
        ws_close(ws)


def test_websocket_unknown_sid_refused(eio_server_normal: EchoServer) -> None:
    refused = ws_refused(eio_server_normal, "EIO=4&transport=websocket&sid=nope")
    assert_json_error(BodyOf(refused), 400, 1)
