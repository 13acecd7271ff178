"""Engine.IO v4 conformance: sessions closed by the client or the server, both transports."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from support.waiting import wait_until

from .eio_conformance_support import (
    TIMEOUT,
    assert_json_error,
    handshake,
    poll,
    post,
    ws_handshake,
    ws_open,
    ws_wait_closed,
)
from .support import EchoServer

pytestmark = pytest.mark.interop


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
