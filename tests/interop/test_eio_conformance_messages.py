"""Engine.IO v4 conformance: messages both ways, and the bad requests that end a session."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.waiting import wait_until

from .eio_conformance_support import (
    SEP,
    TIMEOUT,
    assert_json_error,
    handshake,
    poll,
    post,
    ws_handshake,
    ws_open,
    ws_recv,
    ws_wait_closed,
)
from .support import EchoServer

pytestmark = pytest.mark.interop


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
    seen = [s.data for s in server.handler.events("message", sid)]
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
    seen = eio_server_normal.handler.wait_for_events("message", sid, count=3)
    assert [s.data for s in seen] == ["hello", b"\x01\x02\x03\x04", "h\u00e9llo \U0001d11e"]
    assert eio_server_normal.handler.close_reason(sid) == "transport close"


def test_websocket_invalid_packet_closes_session(eio_server_normal: EchoServer) -> None:
    with ws_open(eio_server_normal) as ws:
        sid = ws_handshake(ws)["sid"]
        ws.send("abc")
        assert ws_wait_closed(ws) == []
    assert eio_server_normal.handler.close_reason(sid) == "transport error"
