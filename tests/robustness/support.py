"""The robustness tests' limits and raw attackers: a WebSocket client that sends any frame,
a long-polling client on raw HTTP, and the check of a JSON error response."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from typing import Any

import pytest

from runtime.httpkit import RawHttpClient, RawResponse

MAX_PAYLOAD = 64 * 1024
"""``max_http_buffer_size`` of the app: a POST body and a WebSocket message, at most."""
PING_INTERVAL = 1.0
PING_TIMEOUT = 2.0
REAPED = PING_INTERVAL + PING_TIMEOUT + 3.0
"""Long enough for the heartbeat to close a silent session, with slack for a busy machine."""
PROMPT = 2.0
"""A healthy round trip on a loaded two-core machine takes milliseconds; this is the bound."""
TIMEOUT = 5.0
EVIL = "EVIL"
"""Every attack payload carries this marker; it must never reach a good client or handler."""

WS_CONT, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# -- raw attackers ---------------------------------------------------------------------------


class Closed(Exception):
    """The server closed the WebSocket: ``code`` from its close frame, None without one."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed by the server (code {code})")
        self.code = code


def _mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


class RawWebSocket:
    """A WebSocket client on a plain socket that sends whatever frames a test asks for.

    ``status`` is the handshake's status (101 when accepted); ``body`` the body of a refusal.
    """

    def __init__(
        self,
        port: int,
        query: str = "EIO=4&transport=websocket",
        *,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._buf = bytearray()
        try:
            if rcvbuf is not None:  # before connect, so that the window stays small
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(TIMEOUT)
            self.sock.connect(("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
            self.sock.sendall(
                f"GET /socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
            )
            deadline = time.monotonic() + TIMEOUT
            head = self._read_until(b"\r\n\r\n", deadline).decode("latin-1")
            self.status = int(head.split(" ", 2)[1])
            self.body = b""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    self.body = self._read_exactly(int(value), deadline)
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self) -> RawWebSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- bytes -------------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing from the server in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except TimeoutError:
            raise TimeoutError("nothing from the server in time") from None
        if not data:
            raise Closed(None)
        self._buf += data

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        while (index := self._buf.find(marker)) < 0:
            self._fill(deadline)
        out = bytes(self._buf[: index + len(marker)])
        del self._buf[: index + len(marker)]
        return out

    def _read_exactly(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._fill(deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(
        self,
        opcode: int,
        payload: bytes,
        *,
        fin: bool = True,
        mask: bool = True,
        length: int | None = None,
    ) -> None:
        """One frame; ``length`` announces another length than the payload's."""
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | opcode])
        bit = 0x80 if mask else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 65536:
            head += bytes([bit | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([bit | 127]) + n.to_bytes(8, "big")
        if mask:
            key = os.urandom(4)
            head += key
            payload = _mask(payload, key)
        self.send_raw(head + payload)

    def send(self, packet: str | bytes) -> None:
        """One Engine.IO packet: text for ``str``, binary for ``bytes``."""
        if isinstance(packet, str):
            self.send_frame(WS_TEXT, packet.encode())
        else:
            self.send_frame(WS_BINARY, packet)

    def read_frame(self, timeout: float = TIMEOUT) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        b0, b1 = self._read_exactly(2, deadline)
        assert not b1 & 0x80, "the server masked a frame"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read_exactly(2, deadline), "big")
        elif n == 127:
            n = int.from_bytes(self._read_exactly(8, deadline), "big")
        return b0 & 0x0F, self._read_exactly(n, deadline)

    def recv(self, timeout: float = TIMEOUT, *, answer_pings: bool = True) -> str | bytes:
        """The next Engine.IO packet, answering heartbeat pings on the way (unless not
        ``answer_pings``: then they are skipped, and the heartbeat will end the session).

        Raises:
            Closed: the server closed the connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            opcode, data = self.read_frame(deadline - time.monotonic())
            if opcode == WS_TEXT:
                text = data.decode()
                if text == "2":
                    if answer_pings:
                        self.send("3")
                    continue
                return text
            if opcode == WS_BINARY:
                return data
            if opcode == WS_CLOSE:
                raise Closed(int.from_bytes(data[:2], "big") if len(data) >= 2 else None)
            if opcode == WS_PING:
                self.send_frame(WS_PONG, data)

    def expect_close(self, timeout: float = TIMEOUT, *, answer_pings: bool = True) -> int | None:
        """The close code the server sends (None: it dropped the connection without one),
        skipping whatever comes first; fail if it does not close within ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.recv(deadline - time.monotonic(), answer_pings=answer_pings)
        except Closed as closed:
            return closed.code
        except TimeoutError:
            pytest.fail(f"the server did not close the WebSocket within {timeout} s")

    def stays_open(self, seconds: float) -> None:
        """Read (and skip) packets for ``seconds``; fail if the server closes meanwhile."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                self.recv(max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            return
        except Closed as closed:
            pytest.fail(f"the server closed the connection ({closed.code})")


def open_socketio(
    port: int, namespace: str = "/", *, rcvbuf: int | None = None
) -> tuple[RawWebSocket, str]:
    """A raw WebSocket connected to ``namespace``: the socket and its Socket.IO sid."""
    ws = RawWebSocket(port, rcvbuf=rcvbuf)
    try:
        assert ws.status == 101, ws.body
        opened = ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{")
        prefix = "40" if namespace == "/" else f"40{namespace},"
        ws.send(prefix)
        reply = ws.recv()
        assert isinstance(reply, str)
        assert reply.startswith(prefix + "{"), reply
        return ws, json.loads(reply[len(prefix) :])["sid"]
    except BaseException:
        ws.close()
        raise


class RawPolling:
    """A long-polling Engine.IO client on :class:`RawHttpClient` (one request at a time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.http = RawHttpClient(port)
        self.http.request("GET", self.target(None))
        response = self.http.read_response()
        assert response.status == 200, response.body
        opened = response.body.decode()
        assert opened.startswith("0{"), opened
        self.sid: str = json.loads(opened[1:])["sid"]

    def __enter__(self) -> RawPolling:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def target(self, sid: str | None) -> str:
        query = "EIO=4&transport=polling" + (f"&sid={sid}" if sid is not None else "")
        return f"/socket.io/?{query}"

    def get(self, sid: str | None = None, timeout: float = TIMEOUT) -> RawResponse:
        self.http.request("GET", self.target(self.sid if sid is None else sid))
        return self.http.read_response(timeout=timeout)

    def post(self, body: bytes, sid: str | None = None) -> RawResponse:
        self.http.request(
            "POST",
            self.target(self.sid if sid is None else sid),
            "Content-Type: text/plain;charset=UTF-8",
            body=body,
        )
        return self.http.read_response()


def json_error(response: RawResponse, status: int) -> dict[str, Any]:
    """The JSON body of an error response with ``status``."""
    assert response.status == status, (response.status, response.body)
    assert (response.header("content-type") or "").startswith("application/json")
    assert response.header("x-content-type-options") == "nosniff"  # the body may quote input
    body = json.loads(response.body)
    assert isinstance(body, dict)
    assert "code" in body, body
    assert body.get("message"), body
    return body
