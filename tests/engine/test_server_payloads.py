"""EngineServer (engine/engine_server.py): HTTP compression and Engine.IO v3 payloads."""

from __future__ import annotations

import gzip
import zlib

import pytest

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    OutgoingMessage,
)
from flask_realtime.protocol import engineio_v3
from flask_realtime.protocol.engineio import Packet, PacketType

from .helpers import Harness

T = PacketType
TEXT = "text/plain; charset=UTF-8"


# -- compression -------------------------------------------------------------------------

BIG = "x" * 2000


def test_large_payload_is_gzipped_when_accepted(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage(BIG))
    exchange = h.get(socket, headers={"accept-encoding": "gzip, deflate, br"})
    assert exchange.header("Content-Encoding") == "gzip"
    assert gzip.decompress(exchange.body) == b"4" + BIG.encode()
    assert len(exchange.body) < len(BIG)


def test_parked_get_is_compressed_too(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket, headers={"accept-encoding": "gzip"})
    socket.send(OutgoingMessage(BIG))
    assert parked.header("Content-Encoding") == "gzip"
    assert gzip.decompress(parked.body) == b"4" + BIG.encode()


def test_deflate_when_gzip_is_not_accepted(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage(BIG))
    exchange = h.get(socket, headers={"accept-encoding": "deflate"})
    assert exchange.header("Content-Encoding") == "deflate"
    assert zlib.decompress(exchange.body) == b"4" + BIG.encode()


@pytest.mark.parametrize(
    ("size", "accept"),
    [
        (1022, "gzip"),  # 1023 bytes with the "4": one under the threshold
        (2000, None),
        (2000, "br"),
        (2000, "gzip;q=0, deflate;q=0"),
    ],
)
def test_no_compression(h: Harness, size: int, accept: str | None) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("y" * size))
    headers = {"accept-encoding": accept} if accept is not None else {}
    exchange = h.get(socket, headers=headers)
    assert exchange.header("Content-Encoding") is None
    assert exchange.body == b"4" + b"y" * size


def test_compression_starts_at_the_threshold(h: Harness) -> None:
    socket = h.open()
    socket.send(OutgoingMessage("y" * 1023))
    exchange = h.get(socket, headers={"accept-encoding": "gzip"})
    assert exchange.header("Content-Encoding") == "gzip"


def test_compression_can_be_turned_off() -> None:
    h = Harness(EngineOptions(http_compression=False))
    socket = h.open()
    socket.send(OutgoingMessage(BIG))
    exchange = h.get(socket, headers={"accept-encoding": "gzip"})
    assert exchange.header("Content-Encoding") is None
    assert exchange.body == b"4" + BIG.encode()


# -- Engine.IO v3 payloads ---------------------------------------------------------------


def test_v3_text_payload_both_ways_with_b64(h: Harness) -> None:
    socket = h.open(eio="3", query="b64=1")
    assert h.post(socket, "6:4hello2:4\u20ac10:b4AAEC/w==").body == b"ok"
    assert h.handler.messages(socket) == ["hello", "\u20ac", b"\x00\x01\x02\xff"]
    socket.send(OutgoingMessage("hi \u20ac"))
    socket.send(OutgoingMessage(b"\x00\x01"))
    exchange = h.get(socket)
    assert exchange.header("Content-Type") == TEXT
    assert exchange.body == "5:4hi \u20ac6:b4AAE=".encode()


def test_v3_binary_payload_both_ways(h: Harness) -> None:
    socket = h.open(eio="3")
    body = engineio_v3.encode_binary_payload(
        [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, b"\x00\xff")]
    )
    exchange = h.post(socket, body, headers={"content-type": "application/octet-stream"})
    assert exchange.body == b"ok"
    assert h.handler.messages(socket) == ["hello", b"\x00\xff"]
    socket.send(OutgoingMessage("hi"))
    socket.send(OutgoingMessage(b"\x00\x01"))
    exchange = h.get(socket)
    assert exchange.header("Content-Type") == "application/octet-stream"
    assert exchange.body == b"\x00\x03\xff4hi" + b"\x01\x03\xff\x04\x00\x01"


def test_v3_payload_without_binary_is_text_even_for_binary_clients(h: Harness) -> None:
    # As Node's engine.io-parser v2: a binary payload only when a packet is binary.
    socket = h.open(eio="3")
    socket.send(OutgoingMessage("hi"))
    exchange = h.get(socket)
    assert exchange.header("Content-Type") == TEXT
    assert exchange.body == b"3:4hi"


def test_v3_text_post_from_a_binary_client(h: Harness) -> None:
    socket = h.open(eio="3")
    assert h.post(socket, "6:4hello").body == b"ok"
    assert h.handler.messages(socket) == ["hello"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe", "text/plain;charset=UTF-8"),
        (b"4:4hi", "text/plain"),  # the length runs past the end
        (b"\x00\x09\xff4hi", "application/octet-stream"),
    ],
)
def test_v3_invalid_post_closes_the_session(h: Harness, body: bytes, content_type: str) -> None:
    socket = h.open(eio="3")
    assert h.post(socket, body, headers={"content-type": content_type}).status == 400
    assert h.handler.closes(socket) == [CloseReason.TRANSPORT_ERROR]


def test_v3_post_of_too_many_packets_is_refused() -> None:
    h = Harness(EngineOptions(max_payload_packets=2))
    socket = h.open(eio="3")
    assert h.post(socket, "2:4a2:4b").status == 200
    assert h.post(socket, "2:4a2:4b2:4c").status == 400
    binary = engineio_v3.encode_binary_payload([Packet(T.MESSAGE, b"x")] * 3)
    other = h.open(eio="3")
    headers = {"content-type": "application/octet-stream"}
    assert h.post(other, binary, headers=headers).status == 400
    assert h.handler.messages() == ["a", "b"]
