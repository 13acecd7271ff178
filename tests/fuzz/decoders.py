"""Fuzz targets for every decoder of ``protocol/``: bytes in, only ``ProtocolError`` out.

Each target takes arbitrary bytes, makes of them what the decoder takes (text, binary, a
sequence of messages), and calls it. The rule under test (``docs/internals.md``, "Errors
and safety"): whatever a client sends, a decoder returns a value or raises our
:class:`~flask_realtime.exceptions.ProtocolError` (subclasses included), nothing else.
Each target also has seeds: valid inputs that the mutating fuzzer (``run.py``) starts from,
so that it reaches past the first byte of each format.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import msgpack

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol import engineio, engineio_v3
from flask_realtime.protocol.msgpack_parser import MsgpackParser
from flask_realtime.protocol.parsers import Decoder, JsonParser

Target = Callable[[bytes], None]

_SPLIT = b"\x00"  # a separator of messages in a case (a NUL never matters to the formats)


def _text(data: bytes) -> str:
    """The case as a ``str``: UTF-8, with what is not UTF-8 as lone surrogates (which
    a JSON text decoded from a WebSocket frame never holds, but a decoder must survive)."""
    return data.decode("utf-8", "surrogatepass") if _is_utf8(data) else data.decode("latin-1")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _messages(data: bytes) -> list[str | bytes]:
    """Split a case into Engine.IO messages: a piece starting with ``\\x01`` is binary
    (the rest of it), any other piece text."""
    return [piece[1:] if piece[:1] == b"\x01" else _text(piece) for piece in data.split(_SPLIT)]


# -- Engine.IO -------------------------------------------------------------------------------


def eio4_packet(data: bytes) -> None:
    for message in _messages(data):
        engineio.Packet.decode(message)


def eio4_payload(data: bytes) -> None:
    engineio.decode_payload(data, max_packets=100, max_size=100_000)
    engineio.decode_payload(_text(data), max_packets=100)


def eio3_packet(data: bytes) -> None:
    for message in _messages(data):
        engineio_v3.decode_packet(message)


def eio3_payload(data: bytes) -> None:
    engineio_v3.decode_payload(data, max_packets=100, max_size=100_000)


def eio3_binary_payload(data: bytes) -> None:
    engineio_v3.decode_binary_payload(data, max_packets=100, max_size=100_000)


# -- Socket.IO -------------------------------------------------------------------------------


def _stdlib_parser(version: int) -> JsonParser:
    """The parser of an install without orjson (an optional extra): the stdlib's json."""
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]  # makes the import fail
    try:
        return JsonParser(version=version)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved


_JSON_PARSERS = (JsonParser(), JsonParser(version=4), _stdlib_parser(5), _stdlib_parser(4))
_MSGPACK = MsgpackParser()


def _feed_all(decoder: Decoder, messages: list[str | bytes]) -> None:
    """Feed every message, going on after a refusal (the decoder resets itself), as a
    connection would not, but so that one case tries many states."""
    for message in messages:
        try:
            decoder.feed(message)
        except ProtocolError:
            continue


def sio_json(data: bytes) -> None:
    messages = _messages(data)
    for parser in _JSON_PARSERS:
        _feed_all(parser.decoder(), messages)


def sio_msgpack(data: bytes) -> None:
    _feed_all(_MSGPACK.decoder(), [piece for piece in data.split(_SPLIT)] + [data])


TARGETS: dict[str, Target] = {
    "eio4-packet": eio4_packet,
    "eio4-payload": eio4_payload,
    "eio3-packet": eio3_packet,
    "eio3-payload": eio3_payload,
    "eio3-binary-payload": eio3_binary_payload,
    "sio-json": sio_json,
    "sio-msgpack": sio_msgpack,
}


def _pack(message: dict[str, object]) -> bytes:
    packed: bytes = msgpack.packb(message)
    return packed


SEEDS: dict[str, list[bytes]] = {
    "eio4-packet": [b"0", b"2probe", b"3", b"4hello", b"5", b"6", b"bAQID", b"\x01\x00\x01\x02",
                    b"4\xe2\x82\xac\x004x"],
    "eio4-payload": [b"4hello\x1e2\x1ebAQID", b"4" + "\u00e9".encode() * 3, b"\x1e\x1e",
                     b"40\x1e42[\"a\",1]"],
    "eio3-packet": [b"4hello", b"2probe", b"bAQID", b"\x01\x04\x01\x02"],
    "eio3-payload": [b"6:4hello2:2p", b"1:6", b"10:b4AQIDBA==", b"3:4\xc3\xa9"],
    "eio3-binary-payload": [b"\x00\x06\xff4hello", b"\x01\x04\xff\x04\x01\x02\x03",
                            b"\x00\x01\xff6\x00\x02\xff40"],
    "sio-json": [
        b'0{"token":"x"}', b"0/admin,", b'2["hello",1]', b'2/admin,12["a",{"b":[1,2]}]',
        b'312["ok"]', b'51-["img",{"_placeholder":true,"num":0}]\x00\x01\x89PNG',
        b'62-7[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]\x00\x01a\x00\x01b',
        b'4{"message":"no"}', b"1/admin,", b'2["a",' + b"[" * 300 + b"]" * 300 + b"]",
        b"0/nsp?x=1&y=2,",
    ],
    "sio-msgpack": [
        _pack({"type": 2, "nsp": "/", "data": ["hello", 1, b"\x00\x01"], "id": 3}),
        _pack({"type": 0, "nsp": "/admin", "data": {"token": "x"}}),
        _pack({"type": 3, "nsp": "/", "data": [None, 1.5, {"a": [True]}], "id": 9}),
        _pack({"type": 1, "nsp": "/admin"}),
        b"\xd4\x00\x00",  # an ext type
    ],
}  # fmt: skip
