"""Engine.IO v4 conformance over raw HTTP and WebSocket, in our own words: what the
``test_eio_conformance_*.py`` modules share.

Those modules check the behaviours that the official suite (socketio/socket.io,
``docs/engine.io-protocol/v4-test-suite/test-suite.js``) checks, with the server settings
it expects (path ``/engine.io/``, ping interval 300 ms, ping timeout 200 ms:
:data:`interop.support.FAST`), written as Python tests with ``requests`` and
``websocket-client``; plus the answer to a protocol version we do not speak. Where the
suite sleeps, they wait on the server's own record of what happened (the echo handler's
``on_close``), with a deadline. One module per part of the suite: the handshake, the
heartbeat, messages, the upgrade, and close.

This module holds their raw-protocol helpers (HTTP requests and WebSocket frames).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import websocket

from .support import EchoServer

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
