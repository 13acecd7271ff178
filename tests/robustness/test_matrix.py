"""The malformed-input matrix: one table per surface (HTTP, WebSocket frames, Engine.IO,
Socket.IO), each row an input and the answer the specs call for, sent to a served app
while a good client echoes without pause in a thread of its own.

Each row checks (a) the answer: the HTTP status with a JSON error body (RFC 9110/9112,
Engine.IO's error codes), the WebSocket close code (RFC 6455 section 7.4.1), the
Socket.IO CONNECT_ERROR, or, for a packet the protocol says to drop, a later echo on the
same connection; (b) through ``World.check``, that the server still serves both good
clients, that nothing reached them, and that it logged no ERROR and no traceback. At the
end of the module the echoer must have had every echo answered, and many of them.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from runtime.httpkit import RawHttpClient

from .conftest import Good, World
from .support import (
    EVIL,
    MAX_PAYLOAD,
    TIMEOUT,
    WS_CLOSE,
    WS_CONT,
    WS_PING,
    WS_TEXT,
    RawPolling,
    json_error,
    open_socketio,
)

# -- the echoer: a good client that never stops ---------------------------------------------


@dataclass
class Echoer:
    """Echoes from a thread of its own for as long as the module runs."""

    good: Good
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            token = f"echo-{uuid.uuid4().hex}"
            try:
                reply = self.good.sio.call("echo", token, timeout=TIMEOUT)
            except Exception as exc:  # any failure is the finding
                self.failures.append(f"{type(exc).__name__}: {exc}")
                self.stop.wait(0.1)
                continue
            if reply == token:
                self.answered += 1
            else:
                self.failures.append(f"wrong echo {reply!r}")
            self.stop.wait(0.01)  # a steady stream, not a flood


@pytest.fixture(scope="module")
def echoer(world: World) -> Iterator[Echoer]:
    good = Good("echoer", "websocket").connect(world.server.url)
    echoer = Echoer(good)
    thread = threading.Thread(target=echoer.run, name="matrix-echoer", daemon=True)
    thread.start()
    try:
        yield echoer
        echoer.stop.set()
        thread.join(TIMEOUT + 1)
        assert not echoer.failures, echoer.failures[:5]
        assert echoer.answered > 20, f"only {echoer.answered} echoes in the whole module"
        assert good.sio.connected
        assert not good.disconnected
        assert EVIL not in good.everything()
    finally:
        echoer.stop.set()
        good.close()


@pytest.fixture
def m(world: World, echoer: Echoer) -> World:
    world.check()
    world.logs.start_test()
    return world


# -- HTTP ------------------------------------------------------------------------------------

EIO = "/socket.io/?EIO=4&transport=polling"

HTTP_ROWS: dict[str, tuple[bytes, int]] = {
    "tls-hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03EVIL\r\n\r\n", 400),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "lowercase-method": (b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "unknown-method": (b"EVIL / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "http-version-9": (b"GET / HTTP/9.1\r\nHost: x\r\n\r\n", 400),
    "no-version": (b"GET /\r\n\r\n", 505),  # HTTP/0.9
    "no-host": (b"GET / HTTP/1.1\r\nX-A: EVIL\r\n\r\n", 400),
    "two-hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "header-without-colon": (b"GET / HTTP/1.1\r\nHost: x\r\nEVIL\r\n\r\n", 400),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "nul-in-header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: E\x00VIL\r\n\r\n", 400),
    "obsolete-line-folding": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n EVIL\r\n\r\n", 400),
    "bare-lf-in-header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: E\rVIL\r\n\r\n", 400),
    "content-length-not-a-number": (
        b"POST " + EIO.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: EVIL\r\n\r\n",
        400,
    ),
    "content-length-negative": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    "two-content-lengths": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nEV",
        400,
    ),
    "smuggling-cl-and-te": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nEVIL",
        400,
    ),
    "unknown-transfer-encoding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: EVIL\r\n\r\n",
        501,  # RFC 9112 section 6.1
    ),
    "bad-chunk-size": (
        b"POST " + EIO.encode() + b"&sid=x HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nEVIL\r\n",
        400,
    ),
    "target-not-a-path": (b"GET EVIL HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "huge-target": (b"GET /" + b"E" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "huge-header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"E" * 70_000 + b"\r\n\r\n", 431),
    "many-headers": (
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: E\r\n" % i for i in range(150))
        + b"\r\n",
        431,
    ),
}  # fmt: skip


@pytest.mark.parametrize("wire", HTTP_ROWS.values(), ids=HTTP_ROWS.keys())
def test_http(m: World, wire: tuple[bytes, int]) -> None:
    data, status = wire
    with RawHttpClient(m.port) as client:
        try:
            client.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pytest.fail("reset while sending: the answer would be lost")
        json_error(client.read_response(), status)
        assert client.wait_closed(TIMEOUT), "the connection stayed open"
    m.check()


# Engine.IO requests: the status and Engine.IO's error code (0 unknown transport, 1 unknown
# sid, 2 bad handshake method, 3 bad request, 4 forbidden, 5 unsupported version).
ENGINE_REQUESTS: dict[str, tuple[str, str, list[str], int, int]] = {
    "eio-version-9": ("GET", "/socket.io/?EIO=9&transport=polling", [], 400, 5),
    "eio-version-missing": ("GET", "/socket.io/?transport=polling", [], 400, 5),
    "eio-unknown-transport": ("GET", "/socket.io/?EIO=4&transport=EVIL", [], 400, 0),
    "eio-unknown-sid": ("GET", EIO + "&sid=EVIL", [], 400, 1),
    "eio-post-handshake": ("POST", EIO, [], 400, 2),
    "eio-put": ("PUT", EIO + "&sid=EVIL", [], 400, 1),
    "eio-websocket-without-upgrade": ("GET", "/socket.io/?EIO=4&transport=websocket", [], 400, 3),
    "eio-foreign-origin": ("GET", EIO, ["Origin: http://evil.example"], 403, 4),
    "eio-foreign-preflight": (
        "OPTIONS", EIO, ["Origin: http://evil.example", "Access-Control-Request-Method: POST"],
        403, 4,
    ),
}  # fmt: skip


@pytest.mark.parametrize("row", ENGINE_REQUESTS.values(), ids=ENGINE_REQUESTS.keys())
def test_engineio_request(m: World, row: tuple[str, str, list[str], int, int]) -> None:
    method, target, headers, status, code = row
    with RawHttpClient(m.port) as client:
        client.request(method, target, *headers)
        assert json_error(client.read_response(), status)["code"] == code
    m.check()


WS_UPGRADES: dict[str, tuple[list[str], int]] = {
    "ws-version-12": (["Sec-WebSocket-Version: 12"], 426),
    "ws-no-key": (["Sec-WebSocket-Key:"], 400),
    "ws-short-key": (["Sec-WebSocket-Key: RVZJTA=="], 400),
    "ws-foreign-origin": (["Origin: http://evil.example"], 403),
}


@pytest.mark.parametrize("row", WS_UPGRADES.values(), ids=WS_UPGRADES.keys())
def test_websocket_upgrade(m: World, row: tuple[list[str], int]) -> None:
    overrides, status = row
    headers = {
        "Host": f"127.0.0.1:{m.port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    for line in overrides:
        name, _, value = line.partition(":")
        headers[name] = value.strip()
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with RawHttpClient(m.port) as client:
        client.send(f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n{lines}\r\n".encode())
        response = client.read_response()
        assert response.status == status, (response.status, response.body)
    m.check()


# -- WebSocket frames (RFC 6455) ---------------------------------------------------------------


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    n = len(payload)
    if n < 126:
        size = bytes([n])
    elif n < 65536:
        size = bytes([126]) + n.to_bytes(2, "big")
    else:
        size = bytes([127]) + n.to_bytes(8, "big")
    if not mask:
        return head + size + payload
    key = b"\x11\x22\x33\x44"
    return head + bytes([size[0] | 0x80]) + size[1:] + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(payload)
    )  # fmt: skip


# Close codes: 1002 protocol error, 1007 invalid data, 1009 too big, 1008 policy.
WS_FRAMES: dict[str, tuple[bytes, int]] = {
    "unmasked": (frame(WS_TEXT, b'42["echo","EVIL"]', mask=False), 1002),
    "reserved-bits": (frame(WS_TEXT, b'42["echo","EVIL"]', rsv=0b100), 1002),
    "unknown-opcode": (frame(0x3, b"EVIL"), 1002),
    "unknown-control-opcode": (frame(0xB, b"EVIL"), 1002),
    "fragmented-ping": (frame(WS_PING, b"EVIL", fin=False), 1002),
    "long-ping": (frame(WS_PING, b"E" * 126), 1002),
    "bad-utf8": (frame(WS_TEXT, b'42["echo","\xff\xfeEVIL"]'), 1007),
    "close-code-999": (frame(WS_CLOSE, (999).to_bytes(2, "big") + b"EVIL"), 1002),
    "close-one-byte": (frame(WS_CLOSE, b"\x03"), 1002),
    "close-bad-utf8-reason": (frame(WS_CLOSE, b"\x03\xe8\xff"), 1007),
    "continuation-first": (frame(WS_CONT, b"EVIL"), 1002),
    "new-message-mid-fragments": (
        frame(WS_TEXT, b'42["echo",', fin=False) + frame(WS_TEXT, b'"EVIL"]'),
        1002,
    ),
    "too-big": (frame(WS_TEXT, b'42["echo","' + b"E" * MAX_PAYLOAD + b'"]'), 1009),
    # RFC 6455 5.2: the top bit MUST be 0 (a protocol error); as a length, far too big
    "length-64-bit-msb": (bytes([0x81, 0xFF]) + b"\x80" + b"\x00" * 7 + b"\x00" * 4, 1009),
}  # fmt: skip


@pytest.mark.parametrize("row", WS_FRAMES.values(), ids=WS_FRAMES.keys())
def test_websocket_frames(m: World, row: tuple[bytes, int]) -> None:
    data, code = row
    ws, sid = open_socketio(m.port)
    with ws:
        ws.send_raw(data)
        assert ws.expect_close() == code
    m.seen.wait_for("disconnect", sid)
    m.check()


# -- Engine.IO packets ---------------------------------------------------------------------


ENGINE_PACKETS_WS: dict[str, str | bytes] = {
    "eio-unknown-type": "9EVIL",
    "eio-empty": "",
    "eio-open-from-client": "0EVIL",
    "eio-upgrade-unasked": "5",
    "eio-close-then-message": "1",
}


@pytest.mark.parametrize("packet", ENGINE_PACKETS_WS.values(), ids=ENGINE_PACKETS_WS.keys())
def test_engineio_packet_over_websocket(m: World, packet: str | bytes) -> None:
    ws, sid = open_socketio(m.port)
    with ws:
        ws.send(packet)
        ws.send('42["echo","EVIL"]')  # after a packet that ends the session: never handled
        ws.expect_close()
    m.seen.wait_for("disconnect", sid)
    m.check()


ENGINE_PAYLOADS: dict[str, tuple[bytes, int]] = {
    "payload-not-utf8": (b"4\xff\xfeEVIL", 400),
    "payload-empty-packet": (b"4EVIL\x1e\x1e4EVIL", 400),
    "payload-unknown-type": (b"9EVIL", 400),
    "payload-bad-base64": (b"b!!EVIL!!", 400),
    "payload-too-many-packets": (b"\x1e".join([b"6"] * 10_001), 400),
    "payload-too-large": (b"4" + b"E" * MAX_PAYLOAD, 400),  # announced far larger: 413
}


@pytest.mark.parametrize("row", ENGINE_PAYLOADS.values(), ids=ENGINE_PAYLOADS.keys())
def test_engineio_payload_over_polling(m: World, row: tuple[bytes, int]) -> None:
    body, status = row
    with RawPolling(m.port) as polling:
        json_error(polling.post(body), status)
        # the session is closed: a later request names an unknown sid
        assert json_error(polling.get(), 400)["code"] == 1
    m.check()


# -- Socket.IO packets -----------------------------------------------------------------------

SOCKETIO_CONNECT_ERRORS: dict[str, tuple[str, str]] = {
    "unknown-namespace": ("40/EVIL,", '44/EVIL,{"message":"Invalid namespace"}'),
    "unknown-namespace-with-auth": (
        '40/EVIL,{"token":"EVIL"}',
        '44/EVIL,{"message":"Invalid namespace"}',
    ),
}


@pytest.mark.parametrize("row", SOCKETIO_CONNECT_ERRORS.values(), ids=SOCKETIO_CONNECT_ERRORS)
def test_socketio_connect_error(m: World, row: tuple[str, str]) -> None:
    packet, answer = row
    ws, sid = open_socketio(m.port)
    with ws:
        ws.send(packet)
        assert ws.recv() == answer
        ws.send('421["echo","still here"]')
        assert ws.recv() == '431["still here"]'
    m.seen.wait_for("disconnect", sid)
    m.check()


SOCKETIO_FATAL: dict[str, str | bytes] = {
    "sio-binary-ack-placeholder-not-announced": '460-1[{"_placeholder":true,"num":0}]',
    "sio-event-name-object": '42[{"EVIL":1}]',
    "sio-event-name-null": '42[null,"EVIL"]',
    "sio-ack-id-with-sign": '42+1["echo","EVIL"]',
    "sio-trailing-garbage": '42["echo","EVIL"]EVIL',
    "sio-nan": '42["echo",NaN]',
    "sio-binary-only": b"\x00EVIL",
    "sio-connect-auth-array": '40/chat,["EVIL"]',
}


@pytest.mark.parametrize("packet", SOCKETIO_FATAL.values(), ids=SOCKETIO_FATAL.keys())
def test_socketio_invalid_packet_closes_the_sender(m: World, packet: str | bytes) -> None:
    ws, sid = open_socketio(m.port)
    with ws:
        ws.send(packet)
        ws.expect_close()
    assert m.seen.wait_for("disconnect", sid) == "transport error"
    m.check()


SOCKETIO_DROPPED: dict[str, str] = {
    "sio-ack-nobody-waits-for": '43999["EVIL"]',
    "sio-event-without-handler": '42["EVIL-no-handler","EVIL"]',
    "sio-event-to-namespace-not-joined": '42/chat,["echo","EVIL"]',
    "sio-disconnect-from-namespace-not-joined": "41/chat,",
    "sio-wrong-argument-count": '42["join","a","EVIL"]',
}


@pytest.mark.parametrize("packet", SOCKETIO_DROPPED.values(), ids=SOCKETIO_DROPPED.keys())
def test_socketio_packet_dropped_and_the_connection_goes_on(m: World, packet: str) -> None:
    ws, sid = open_socketio(m.port)
    with ws:
        ws.send(packet)
        ws.send('427["echo","still here"]')
        assert ws.recv() == '437["still here"]'  # the dropped one sent nothing before it
    m.seen.wait_for("disconnect", sid)
    m.check()


def test_the_matrix_has_at_least_fifty_kinds() -> None:
    tables: list[dict[str, object]] = [
        HTTP_ROWS, ENGINE_REQUESTS, WS_UPGRADES, WS_FRAMES, ENGINE_PACKETS_WS,
        ENGINE_PAYLOADS, SOCKETIO_CONNECT_ERRORS, SOCKETIO_FATAL, SOCKETIO_DROPPED,
    ]  # fmt: skip
    assert sum(len(table) for table in tables) >= 50


def test_the_echoer_was_answered_throughout(m: World, echoer: Echoer) -> None:
    before = echoer.answered
    deadline = time.monotonic() + TIMEOUT
    while echoer.answered < before + 3 and time.monotonic() < deadline:
        echoer.stop.wait(0.05)
    assert echoer.answered >= before + 3
    assert not echoer.failures, echoer.failures[:5]
