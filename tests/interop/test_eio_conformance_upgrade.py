"""Engine.IO v4 conformance: the upgrade to WebSocket, and what is refused around it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import websocket

from support.waiting import wait_until

from .eio_conformance_support import (
    TIMEOUT,
    BodyOf,
    assert_json_error,
    handshake,
    poll,
    upgrade,
    ws_close,
    ws_connect,
    ws_recv,
    ws_refused,
    ws_wait_closed,
)
from .support import EchoServer

pytestmark = pytest.mark.interop


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
        seen = server.handler.wait_for_events("message", sid)
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
            lambda: server.call(lambda: server.engine.sessions[sid].transport_name) == "websocket",
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
            lambda: server.call(lambda: server.engine.sessions[sid].transport_name) == "websocket",
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
