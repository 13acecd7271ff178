"""Engine.IO v4 packets and payloads (protocol/engineio.py)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_realtime.exceptions import PayloadTooLargeError, ProtocolError
from flask_realtime.protocol.engineio import (
    Packet,
    PacketType,
    decode_base64,
    decode_payload,
    encode_payload,
)

from .strategies import eio_packets

T = PacketType

# Every example of docs/engine.io-protocol/v4-current.md (socketio/socket.io): the packet
# or packets, and their wire form.
SPEC_PACKETS = [
    # "Heartbeat" and "Upgrade"
    (Packet(T.PING), "2"),
    (Packet(T.PONG), "3"),
    (Packet(T.PING, "probe"), "2probe"),
    (Packet(T.PONG, "probe"), "3probe"),
    (Packet(T.UPGRADE), "5"),
    # "Packet encoding / WebSocket"
    (Packet(T.MESSAGE, "hello"), "4hello"),
    # "Handshake"
    (
        Packet(
            T.OPEN,
            '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
            '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
        ),
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
    ),
    # The other types, each alone
    (Packet(T.CLOSE), "1"),
    (Packet(T.NOOP), "6"),
]

SPEC_PAYLOADS = [
    # "Packet encoding / HTTP long-polling"
    (
        [Packet(T.MESSAGE, "hello"), Packet(T.PING), Packet(T.MESSAGE, "world")],
        "4hello\x1e2\x1e4world",
    ),
    ([Packet(T.MESSAGE, "hello"), Packet(T.MESSAGE, b"\x01\x02\x03\x04")], "4hello\x1ebAQIDBA=="),
    # socket.io-protocol v5 "Sample session", request n°5
    (
        [Packet(T.MESSAGE, '2["hello"]'), Packet(T.MESSAGE, '2["world"]')],
        '42["hello"]\x1e42["world"]',
    ),
]


@pytest.mark.parametrize(("packet", "wire"), SPEC_PACKETS)
def test_spec_packet_encodes_and_decodes(packet: Packet, wire: str) -> None:
    assert packet.encode() == wire
    assert packet.encode_text() == wire
    assert Packet.decode(wire) == packet


@pytest.mark.parametrize(("packets", "wire"), SPEC_PAYLOADS)
def test_spec_payload_encodes_and_decodes(packets: list[Packet], wire: str) -> None:
    assert encode_payload(packets) == wire
    assert decode_payload(wire) == packets
    assert decode_payload(wire.encode()) == packets


def test_binary_message_is_raw_bytes_on_websocket() -> None:
    # "Packet encoding / WebSocket": binary payloads are sent as is.
    packet = Packet(T.MESSAGE, b"\x01\x02\x03\x04")
    assert packet.encode() == b"\x01\x02\x03\x04"
    assert Packet.decode(b"\x01\x02\x03\x04") == packet
    assert Packet.decode(b"") == Packet(T.MESSAGE, b"")


def test_binary_message_is_base64_in_text_form() -> None:
    packet = Packet(T.MESSAGE, b"\x01\x02\x03\x04")
    assert packet.encode_text() == "bAQIDBA=="
    assert Packet.decode("bAQIDBA==") == packet
    assert Packet.decode("b") == Packet(T.MESSAGE, b"")


def test_packet_defaults_to_empty_text() -> None:
    assert Packet(T.NOOP).data == ""
    assert Packet(T.NOOP) == Packet(T.NOOP, "")


def test_packet_is_frozen() -> None:
    packet = Packet(T.PING)
    with pytest.raises(AttributeError):
        packet.data = "x"  # type: ignore[misc]


def test_non_ascii_text_is_kept() -> None:
    assert Packet.decode("4€😀") == Packet(T.MESSAGE, "€😀")
    assert decode_payload("4€\x1e4😀".encode()) == [Packet(T.MESSAGE, "€"), Packet(T.MESSAGE, "😀")]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("", "empty Engine.IO packet"),
        ("7", "unknown Engine.IO packet type"),
        ("x4hello", "unknown Engine.IO packet type"),
        ("bAQ", "invalid base64"),
        ("b!!!!", "invalid base64"),
        ("bAQIDBA==AA", "invalid base64"),
        ("b€", "invalid base64"),
    ],
)
def test_malformed_packet_is_refused(wire: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        Packet.decode(wire)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("", "empty Engine.IO packet"),
        ("4a\x1e\x1e2", "empty Engine.IO packet"),
        ("4a\x1e", "empty Engine.IO packet"),
        ("4a\x1e9", "unknown Engine.IO packet type"),
        (b"4\xff", "not valid UTF-8"),
    ],
)
def test_malformed_payload_is_refused(wire: str | bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_payload(wire)


def test_error_message_quotes_only_an_excerpt() -> None:
    with pytest.raises(ProtocolError) as info:
        Packet.decode("x" * 10_000)
    assert len(str(info.value)) < 100
    assert "..." in str(info.value)


def test_max_packets_bounds_a_payload() -> None:
    assert len(decode_payload("2\x1e2\x1e2", max_packets=3)) == 3
    with pytest.raises(ProtocolError, match="more than 2 packets"):
        decode_payload("2\x1e2\x1e2", max_packets=2)


def test_max_size_bounds_a_payload() -> None:
    assert decode_payload(b"4abc", max_size=4) == [Packet(T.MESSAGE, "abc")]
    with pytest.raises(PayloadTooLargeError) as info:
        decode_payload(b"4abcd", max_size=4)
    assert (info.value.size, info.value.limit) == (5, 4)
    with pytest.raises(PayloadTooLargeError):
        decode_payload("4abcd", max_size=4)


def test_decode_base64_is_strict() -> None:
    assert decode_base64("AQIDBA==") == b"\x01\x02\x03\x04"
    with pytest.raises(ProtocolError):
        decode_base64("AQIDBA")


@settings(max_examples=250)
@given(eio_packets())
def test_packet_round_trips(packet: Packet) -> None:
    assert Packet.decode(packet.encode()) == packet
    assert Packet.decode(packet.encode_text()) == packet


@settings(max_examples=250)
@given(st.lists(eio_packets(), min_size=1, max_size=6))
def test_payload_round_trips(packets: list[Packet]) -> None:
    encoded = encode_payload(packets)
    assert decode_payload(encoded) == packets
    assert decode_payload(encoded.encode()) == packets


@settings(max_examples=300)
@given(st.text() | st.binary())
def test_arbitrary_input_raises_only_protocol_error(data: str | bytes) -> None:
    try:
        decode_payload(data, max_packets=50)
    except ProtocolError:
        pass
    if isinstance(data, str):
        try:
            Packet.decode(data)
        except ProtocolError:
            pass


@settings(max_examples=250)
@given(st.sampled_from(["b", "4", "2", "b\x1e", "4\x1eb"]), st.text(alphabet="AQIDBA=+/\x1e4b"))
def test_near_valid_input_raises_only_protocol_error(prefix: str, rest: str) -> None:
    try:
        decode_payload(prefix + rest)
    except ProtocolError:
        pass


def test_packet_supports_dataclass_replace() -> None:
    assert dataclasses.replace(Packet(T.PING, "x"), data="y") == Packet(T.PING, "y")
