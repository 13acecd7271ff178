"""runtime/multiprocess/ws_relay.py and relayed_websocket.py: the relaying server's end of
a WebSocket, with a stand-in socket and the bus replaced by a list of what was sent (real
sockets, Redis and servers are in tests/deploy/test_websocket_relay.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.frames import Frame, Opcode

from flask_realtime.engine import EngineOptions, EngineServer
from flask_realtime.engine.http import error_response
from flask_realtime.runtime.engineio.endpoint import EngineIOEndpoint
from flask_realtime.runtime.engineio.relay_wire import RelayKind, encode_response
from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.multiprocess.relayed_websocket import RelayedWebSocket
from flask_realtime.runtime.multiprocess.ws_relay import BACKLOG_HIGH, WebSocketRelay
from support.recorder import RecordingHandler

OWNER = 3


class ListBus:
    """What the relay sent, in order; ``backlog`` is set by the test."""

    index = 1

    def __init__(self) -> None:
        self.sent: list[tuple[RelayKind, int, int, Any]] = []
        self.backlog = 0

    def relay(self, kind: int, peer: int, conn_id: int, value: Any) -> bool:
        self.sent.append((RelayKind(kind), peer, conn_id, value))
        return True

    def on_relay(self, receiver: object) -> None:
        pass


class Socket:
    """An asyncio transport that keeps what was written and what was done to it."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.reading = True
        self.buffered = 0
        self.ended = ""  # "eof", "close" or "abort"

    def write(self, data: bytes) -> None:
        self.written += data

    def writelines(self, parts: list[bytes]) -> None:
        for part in parts:
            self.write(part)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.ended = self.ended or "eof"

    def close(self) -> None:
        self.ended = self.ended or "close"

    def abort(self) -> None:
        self.ended = "abort"

    def is_closing(self) -> bool:
        return bool(self.ended)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default


def upgrade_request() -> Request:
    headers = [("host", "localhost"), ("upgrade", "websocket"), ("connection", "Upgrade"),
               ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
               ("sec-websocket-version", "13")]  # fmt: skip
    query = f"EIO=4&transport=websocket&sid={OWNER}.abc"
    return Request("GET", "/socket.io/", query, headers, b"", None, "http", "1.1", True)


def frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True)


class Relay:
    """A relay with one connection asked of the owner; ``accept`` answers for the owner."""

    def __init__(self, **options: Any) -> None:
        endpoint = EngineIOEndpoint(EngineServer(RecordingHandler(), EngineOptions(**options)))
        self.bus = ListBus()
        self.relay = WebSocketRelay(self.bus, endpoint)
        conn = self.relay.protocol_for(OWNER, upgrade_request())
        assert isinstance(conn, RelayedWebSocket)
        self.conn = conn
        self.socket = Socket()
        conn.connection_made(self.socket)  # type: ignore[arg-type]
        ((kind, peer, self.conn_id, value),) = self.bus.sent
        assert (kind, peer) == (RelayKind.OPEN, OWNER)
        assert value["query"].endswith(f"sid={OWNER}.abc")
        assert not self.socket.reading  # nothing is read before the owner agrees

    def owner(self, kind: RelayKind, value: Any) -> None:
        self.relay.relayed(kind, OWNER, self.conn_id, value)

    def accept(self) -> None:
        self.owner(RelayKind.ANSWER, None)
        assert self.socket.written.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert self.socket.reading
        self.socket.written.clear()


async def test_whole_messages_go_to_the_owner_in_order_fragments_joined() -> None:
    relay = Relay()
    relay.accept()
    relay.conn.data_received(
        frame(Opcode.TEXT, b"2probe")
        + frame(Opcode.TEXT, b"4fi", fin=False)
        + frame(Opcode.CONT, b"rst")
        + frame(Opcode.PING, b"")  # answered by the relay itself
        + frame(Opcode.BINARY, b"\x00\x01")
    )
    assert relay.bus.sent[-1] == (RelayKind.IN, OWNER, relay.conn_id, ["2probe", "4first", b"\0\1"])
    assert relay.socket.written == b"\x8a\x00"  # the pong


async def test_the_owner_s_messages_are_written_as_frames() -> None:
    relay = Relay()
    relay.accept()
    relay.owner(RelayKind.OUT, ["3probe", b"\x07"])
    assert bytes(relay.socket.written) == b"\x81\x063probe" + b"\x82\x01\x07"


async def test_a_refusal_of_the_owner_is_the_http_answer() -> None:
    relay = Relay()
    refusal = error_response(400, "Session ID unknown")
    relay.owner(RelayKind.ANSWER, encode_response(refusal))
    head, _, body = bytes(relay.socket.written).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["message"] == "Session ID unknown"
    assert relay.socket.ended == "eof"
    assert len(relay.relay) == 1  # until the socket is gone
    relay.conn.connection_lost(None)
    assert len(relay.relay) == 0
    assert relay.bus.sent[-1][0] is RelayKind.OPEN  # the owner has nothing to forget


async def test_the_owner_s_close_closes_the_websocket_and_the_client_s_close_is_told() -> None:
    relay = Relay()
    relay.accept()
    relay.owner(RelayKind.CLOSE_OUT, False)
    assert bytes(relay.socket.written) == b"\x88\x02\x03\xe8"  # close frame, 1000
    assert relay.socket.ended == "eof"
    relay.conn.connection_lost(None)
    assert relay.bus.sent[-1][0] is RelayKind.OPEN  # the owner closed it: nothing to tell

    other = Relay()
    other.accept()
    other.conn.data_received(frame(Opcode.CLOSE, b"\x03\xe8"))
    assert other.bus.sent[-1] == (RelayKind.CLOSE_IN, OWNER, other.conn_id, False)


async def test_a_client_that_does_not_read_is_dropped() -> None:
    relay = Relay(max_buffered_bytes=1000)
    relay.accept()
    relay.socket.buffered = 1001
    relay.owner(RelayKind.OUT, ["4" + "x" * 100])
    assert relay.socket.ended == "abort"
    assert relay.bus.sent[-1] == (RelayKind.CLOSE_IN, OWNER, relay.conn_id, True)


async def test_a_message_over_max_http_buffer_size_fails_with_1009() -> None:
    relay = Relay(max_http_buffer_size=100)
    relay.accept()
    relay.conn.data_received(frame(Opcode.TEXT, b"4" + b"x" * 100))
    written = bytes(relay.socket.written)
    assert written[0] == 0x88  # a close frame
    assert written[2:4] == (1009).to_bytes(2, "big")  # message too big, and a reason
    assert relay.bus.sent[-1] == (RelayKind.CLOSE_IN, OWNER, relay.conn_id, True)
    assert relay.socket.ended == "eof"


async def test_the_owner_s_flow_and_a_full_bus_pause_reading() -> None:
    relay = Relay()
    relay.accept()
    relay.owner(RelayKind.FLOW, True)
    assert not relay.socket.reading
    relay.owner(RelayKind.FLOW, False)
    assert relay.socket.reading
    relay.bus.backlog = BACKLOG_HIGH + 1
    relay.conn.data_received(frame(Opcode.TEXT, b"4hello"))
    assert not relay.socket.reading
    relay.bus.backlog = 0
    for _ in range(100):  # the relay looks again every 10 ms
        if relay.socket.reading:
            break
        await asyncio.sleep(0.01)
    assert relay.socket.reading


async def test_an_owner_that_is_gone_closes_its_relayed_websockets() -> None:
    relay = Relay()
    relay.accept()
    relay.relay.peer_gone(OWNER + 1)
    assert not relay.socket.ended
    relay.relay.peer_gone(OWNER)
    assert bytes(relay.socket.written) == b"\x88\x02\x03\xf3"  # close frame, 1011


async def test_an_owner_gone_before_it_answered_is_a_session_id_unknown() -> None:
    relay = Relay()
    relay.relay.peer_gone(OWNER)
    head, _, body = bytes(relay.socket.written).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["message"] == "Session ID unknown"
