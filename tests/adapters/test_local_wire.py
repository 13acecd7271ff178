"""adapters/local_wire.py: the frames between the workers of one machine, fed whole, byte
by byte and with trailing data; values with bytes anywhere; malformed input raises our
ProtocolError (or decodes to None), never anything else."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_realtime.adapters.local_wire import (
    ALL,
    HEADER,
    ID_SIZE,
    MAX_FRAME,
    FrameKind,
    FrameReader,
    decode_message,
    decode_value,
    encode_message,
    encode_value,
    frame,
    read_id,
    with_id,
)
from flask_realtime.exceptions import ConfigurationError, ProtocolError
from flask_realtime.server.cluster_messages import ClusterMessage, MessageType

FRAMES = [
    (FrameKind.HELLO, 3, b""),
    (FrameKind.CLUSTER, ALL, b"x" * 1000),
    (FrameKind.REQUEST, 7, with_id(42, b"body")),
    (FrameKind.GONE, 0, b""),
]
STREAM = b"".join(frame(kind, peer, body) for kind, peer, body in FRAMES)


def test_a_frame_is_its_length_kind_peer_and_body() -> None:
    data = frame(FrameKind.RESPONSE, 2, b"abc")
    assert data == struct.pack("!IBH", 3 + 3, 5, 2) + b"abc"
    assert len(data) == HEADER.size + 3


def test_frames_fed_whole() -> None:
    assert FrameReader().feed(STREAM) == FRAMES


def test_frames_fed_byte_by_byte() -> None:
    reader = FrameReader()
    got = []
    for byte in STREAM:
        got.extend(reader.feed(bytes([byte])))
    assert got == FRAMES


def test_a_frame_cut_short_waits_for_the_rest() -> None:
    reader = FrameReader()
    assert reader.feed(STREAM[:-1]) == FRAMES[:-1]
    assert reader.feed(STREAM[-1:]) == FRAMES[-1:]


@pytest.mark.parametrize("length", [MAX_FRAME + 1, 0, 2])
def test_an_impossible_length_is_a_protocol_error(length: int) -> None:
    with pytest.raises(ProtocolError, match="bad frame length"):
        FrameReader().feed(struct.pack("!IBH", length, 3, 0))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_frames_or_our_error(data: bytes) -> None:
    try:
        frames = FrameReader().feed(data)
    except ProtocolError:
        return
    for kind, peer, body in frames:
        assert 0 <= kind <= 255
        assert 0 <= peer <= 0xFFFF
        assert isinstance(body, bytes)


def test_values_round_trip_with_bytes_anywhere() -> None:
    value = {"a": [1, "two", b"\x00\xff"], "b": {"c": b"", "d": None}, "e": 1.5}
    assert decode_value(encode_value(value)) == value
    assert decode_value(encode_value("plain")) == "plain"


def test_a_value_after_a_request_id() -> None:
    body = encode_value({"x": b"y"}, with_id(0xFFFFFFFF))
    assert read_id(body) == 0xFFFFFFFF
    assert decode_value(body, ID_SIZE) == {"x": b"y"}


def test_a_value_that_is_neither_json_nor_bytes_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"cannot send .* to the other workers"):
        encode_value({"when": object()})


@pytest.mark.parametrize(
    "body",
    [
        b"",  # no length
        b"\x00\x00",  # length cut short
        struct.pack("!I", 10) + b"[1,",  # JSON cut short
        struct.pack("!I", 3) + b"{x}",  # not JSON
        struct.pack("!I", 2) + b"[]" + struct.pack("!I", 9) + b"abc",  # buffer cut short
        struct.pack("!I", 2) + b"[]" + b"\x00\x01",  # a buffer length cut short
        struct.pack("!I", 2) + b"\xff\xfe",  # not UTF-8
    ],
)
def test_a_malformed_value_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_value(body)


@given(st.binary(max_size=100))
def test_arbitrary_bodies_decode_or_raise_our_error(body: bytes) -> None:
    try:
        decode_value(body)
    except ProtocolError:
        pass


def test_a_placeholder_without_its_buffer_is_a_protocol_error() -> None:
    body = encode_value({"_placeholder": True, "num": 3})
    with pytest.raises(ProtocolError):
        decode_value(body + struct.pack("!I", 1) + b"x")


def test_a_request_frame_without_its_id_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="without its id"):
        read_id(b"\x00\x01")


def test_cluster_messages_round_trip() -> None:
    message = ClusterMessage(MessageType.BROADCAST, "1.abc", "/chat", {"packet": b"\x01", "n": 2})
    assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize(
    "value",
    [
        [1, "uid", "/"],  # too short
        "not a list",
        [1, 2, "/", {}],  # uid not a str
        [1, "uid", None, {}],  # namespace not a str
        [1, "uid", "/", []],  # data not a dict
        [999, "uid", "/", {}],  # an unknown type
    ],
)
def test_a_cluster_body_that_is_not_a_message_decodes_to_none(value: object) -> None:
    assert decode_message(encode_value(value)) is None
