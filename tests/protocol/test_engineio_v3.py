"""Engine.IO v3 packets and payloads, for socket.io 2.x clients (protocol/engineio_v3.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_realtime.exceptions import PayloadTooLargeError, ProtocolError
from flask_realtime.protocol.engineio import Packet, PacketType
from flask_realtime.protocol.engineio_v3 import (
    decode_binary_payload,
    decode_packet,
    decode_payload,
    encode_binary_payload,
    encode_packet,
    encode_payload,
    utf16_length,
)

from .strategies import eio_packets

T = PacketType
HANDSHAKE = (
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    '"pingTimeout":5000}'
)
BINARY = b"\x01\x02\x03\x04"

# Every text payload of docs/engine.io-protocol/v3.md and of the "Sample session" of
# docs/socket.io-protocol/v4.md (socketio/socket.io), and of the official v3 test suite.
SPEC_TEXT_PAYLOADS = [
    ([Packet(T.OPEN, HANDSHAKE[1:])], "96:" + HANDSHAKE),
    ([Packet(T.OPEN, HANDSHAKE[1:]), Packet(T.MESSAGE, "0")], "96:" + HANDSHAKE + "2:40"),
    ([Packet(T.MESSAGE, "hey")], "4:4hey"),
    ([Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, "world")], "6:4hello6:4world"),
    ([Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, "€")], "6:4hello2:4€"),
    ([Packet(T.MESSAGE, "€"), Packet(T.MESSAGE, BINARY)], "2:4€10:b4AQIDBA=="),
    ([Packet(T.MESSAGE, '2["hey","Jude"]')], '16:42["hey","Jude"]'),
    (
        [Packet(T.MESSAGE, '2["hello"]'), Packet(T.MESSAGE, '2["world"]')],
        '11:42["hello"]11:42["world"]',
    ),
    ([Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, BINARY)], "6:4hello10:b4AQIDBA=="),
    ([Packet(T.PING)], "1:2"),
    ([Packet(T.PONG)], "1:3"),
    ([Packet(T.NOOP)], "1:6"),
    ([Packet(T.CLOSE)], "1:1"),
]

# WebSocket frames of the v3 "Sample session" and of the test suite.
SPEC_FRAMES: list[tuple[Packet, str | bytes]] = [
    (Packet(T.PING, "probe"), "2probe"),
    (Packet(T.PONG, "probe"), "3probe"),
    (Packet(T.UPGRADE), "5"),
    (Packet(T.MESSAGE, "hello"), "4hello"),
    (Packet(T.MESSAGE, "HelloWorld"), "4HelloWorld"),
    (Packet(T.OPEN, HANDSHAKE[1:]), HANDSHAKE),
    (Packet(T.MESSAGE, bytes(range(6))), b"\x04\x00\x01\x02\x03\x04\x05"),  # "4|0|1|2|3|4|5"
    (Packet(T.MESSAGE, BINARY), b"\x04\x01\x02\x03\x04"),
]


@pytest.mark.parametrize(("packets", "wire"), SPEC_TEXT_PAYLOADS)
def test_spec_text_payload_encodes_and_decodes(packets: list[Packet], wire: str) -> None:
    assert encode_payload(packets) == wire
    assert decode_payload(wire) == packets
    assert decode_payload(wire.encode()) == packets


@pytest.mark.parametrize(("packet", "wire"), SPEC_FRAMES)
def test_spec_frame_encodes_and_decodes(packet: Packet, wire: str | bytes) -> None:
    assert encode_packet(packet) == wire
    assert decode_packet(wire) == packet


def test_binary_payload_of_the_conformance_suite() -> None:
    # docs/engine.io-protocol/v3-test-suite/test-suite.js: "plain text and binary packets
    # (binary)". The example in v3.md ("01 04 ff 01 02 03 04") leaves out the type byte that
    # engine.io-parser 2.x writes and that this suite expects; we follow the implementation.
    wire = bytes([0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4])
    packets = [Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, BINARY)]
    assert encode_binary_payload(packets) == wire
    assert decode_binary_payload(wire) == packets


def test_binary_payload_counts_utf8_bytes_of_text_packets() -> None:
    # v3.md "Payload", example with binary: "€" is 3 bytes, so the length is 4.
    wire = bytes.fromhex("00 04 ff 34 e2 82 ac 01 05 ff 04 01 02 03 04")
    packets = [Packet(T.MESSAGE, "€"), Packet(T.MESSAGE, BINARY)]
    assert encode_binary_payload(packets) == wire
    assert decode_binary_payload(wire) == packets


def test_binary_payload_length_of_ten_or_more_uses_several_digit_bytes() -> None:
    packet = Packet(T.MESSAGE, "x" * 122)
    wire = encode_binary_payload([packet])
    assert wire[:5] == b"\x00\x01\x02\x03\xff"
    assert decode_binary_payload(wire) == [packet]


def test_empty_payloads() -> None:
    assert encode_payload([]) == "0:"
    assert decode_payload("0:") == []
    assert encode_binary_payload([]) == b""
    assert decode_binary_payload(b"") == []


def test_text_lengths_count_utf16_code_units() -> None:
    assert utf16_length("4hello") == 6
    assert utf16_length("4€") == 2
    assert utf16_length("4😀") == 3  # one astral character is a surrogate pair in JS
    assert encode_payload([Packet(T.MESSAGE, "😀é")]) == "4:4😀é"
    assert decode_payload("4:4😀é1:2") == [Packet(T.MESSAGE, "😀é"), Packet(T.PING)]


def test_base64_frame_for_clients_without_binary() -> None:
    packet = Packet(T.MESSAGE, BINARY)
    assert encode_packet(packet, b64=True) == "b4AQIDBA=="
    assert decode_packet("b4AQIDBA==") == packet
    assert encode_packet(Packet(T.MESSAGE, "hi"), b64=True) == "4hi"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("", "empty Engine.IO payload"),
        ("abc", "expected <length>:"),
        (":4hi", "expected <length>:"),
        ("3", "expected <length>:"),
        ("3;4hi", "expected <length>:"),
        ("12345678901:4", "expected <length>:"),
        ("4:4hey" + "1", "expected <length>:"),
        ("6:4hi", "runs past the end"),
        ("3:4😀x1:2", "expected <length>:"),
        ("1:9", "unknown Engine.IO packet type"),
        ("6:b2AQID", "must be a MESSAGE"),
        ("5:b4AQI", "invalid base64"),
        (b"2:4\xff", "not valid UTF-8"),
    ],
)
def test_malformed_text_payload_is_refused(wire: str | bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_payload(wire)


def test_length_splitting_a_surrogate_pair_gives_lone_surrogates_as_js_does() -> None:
    # "2:4😀" in JS: the 2 code units "4\ud83d", then "\ude00" where a length should be.
    with pytest.raises(ProtocolError, match="expected <length>:"):
        decode_payload("2:4😀")
    assert decode_payload("2:4😀"[:3] + "\ud83d") == [Packet(T.MESSAGE, "\ud83d")]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x02\x01\xff4", "invalid packet header"),
        (b"\x00\x01", "invalid packet header"),
        (b"\x00\xff", "invalid packet header"),
        (b"\x00\x0a\xff4", "invalid packet header"),
        (b"\x00" + b"\x01" * 11 + b"\xff", "invalid packet header"),
        (b"\x00\x05\xff4", "runs past the end"),
        (b"\x00\x02\xff4\xff", "not valid UTF-8"),
        (b"\x00\x01\xff9", "unknown Engine.IO packet type"),
        (b"\x01\x00\xff", "empty Engine.IO packet"),
        (b"\x01\x02\xff\x02\x01", "must be a MESSAGE"),
    ],
)
def test_malformed_binary_payload_is_refused(wire: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_binary_payload(wire)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "empty Engine.IO packet"),
        (b"\x02probe", "must be a MESSAGE"),
        ("", "empty Engine.IO packet"),
        ("b", "must be a MESSAGE"),
        ("b2AQID", "must be a MESSAGE"),
    ],
)
def test_malformed_frame_is_refused(wire: str | bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_packet(wire)


def test_limits() -> None:
    with pytest.raises(ProtocolError, match="more than 1 packets"):
        decode_payload("1:21:2", max_packets=1)
    with pytest.raises(ProtocolError, match="more than 1 packets"):
        decode_binary_payload(b"\x00\x01\xff2\x00\x01\xff2", max_packets=1)
    assert decode_payload("1:20:", max_packets=1) == [Packet(T.PING)]
    with pytest.raises(PayloadTooLargeError):
        decode_payload("1:21:2", max_size=5)
    with pytest.raises(PayloadTooLargeError):
        decode_binary_payload(b"\x00\x01\xff2", max_size=3)
    assert decode_binary_payload(b"\x00\x01\xff2", max_size=4) == [Packet(T.PING)]


@settings(max_examples=250)
@given(eio_packets(separator_free=False))
def test_frame_round_trips(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet)) == packet
    assert decode_packet(encode_packet(packet, b64=True)) == packet


@settings(max_examples=250)
@given(st.lists(eio_packets(separator_free=False), max_size=6))
def test_payloads_round_trip(packets: list[Packet]) -> None:
    assert decode_payload(encode_payload(packets)) == packets
    assert decode_binary_payload(encode_binary_payload(packets)) == packets


@settings(max_examples=300)
@given(st.text() | st.binary())
def test_arbitrary_input_raises_only_protocol_error(data: str | bytes) -> None:
    for decode in (decode_payload, decode_packet):
        try:
            decode(data)
        except ProtocolError:
            pass
    if isinstance(data, bytes):
        try:
            decode_binary_payload(data)
        except ProtocolError:
            pass


@settings(max_examples=250)
@given(st.text(alphabet="0123456789:4b€😀AQ="))
def test_near_valid_text_payload_raises_only_protocol_error(data: str) -> None:
    try:
        decode_payload(data)
    except ProtocolError:
        pass


@settings(max_examples=250)
@given(st.lists(st.sampled_from([0, 1, 2, 3, 4, 9, 10, 52, 255]), max_size=20).map(bytes))
def test_near_valid_binary_payload_raises_only_protocol_error(data: bytes) -> None:
    try:
        decode_binary_payload(data)
    except ProtocolError:
        pass
