"""Engine.IO v4 conformance: ping, pong and the ping timeout, over polling and WebSocket."""

from __future__ import annotations

import time

import pytest

from .eio_conformance_support import (
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
    assert eio_server.handler.events("close", sid) == []


def test_polling_ping_timeout(eio_server: EchoServer) -> None:
    started = time.monotonic()
    sid = handshake(eio_server)
    (closed,) = eio_server.handler.wait_for_events("close", sid, timeout=3)
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
    (closed,) = eio_server.handler.wait_for_events("close", sid)
    assert closed.data == "ping timeout"
    assert 0.45 <= closed.at - started <= 1.5
