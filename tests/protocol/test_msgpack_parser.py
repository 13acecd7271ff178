"""The msgpack Socket.IO parser (protocol/msgpack_parser.py)."""

from __future__ import annotations

import sys
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_realtime.exceptions import ConfigurationError, ProtocolError
from flask_realtime.protocol.msgpack_parser import MsgpackParser
from flask_realtime.protocol.parsers import MsgpackParser as ReExported
from flask_realtime.protocol.socketio import Packet, PacketType

from .strategies import sio_packets

T = PacketType
PARSER = MsgpackParser()

# Bytes written by notepack.io 3 (what npm socket.io-msgpack-parser sends), for the packets
# that the socket.io server and client build.
NOTEPACK: list[tuple[Packet, str]] = [
    (Packet(T.CONNECT), "82a47479706500a36e7370a12f"),
    (
        Packet(T.CONNECT, "/admin", {"sid": "abc"}),
        "83a47479706500a46461746181a3736964a3616263a36e7370a62f61646d696e",
    ),
    (
        Packet(T.EVENT, "/", ["hello", b"\x01\x02\x03"], 7),
        "84a47479706502a46461746192a568656c6c6fc403010203a36e7370a12fa2696407",
    ),
    (
        Packet(T.ACK, "/admin", [], 456),
        "84a47479706503a46461746190a36e7370a62f61646d696ea26964cd01c8",
    ),
    (
        Packet(T.CONNECT_ERROR, "/", {"message": "Not authorized"}),
        "83a47479706504a46461746181a76d657373616765ae4e6f7420617574686f72697a6564a36e7370a12f",
    ),
    (Packet(T.DISCONNECT, "/admin"), "82a47479706501a36e7370a62f61646d696e"),
]


@pytest.mark.parametrize(("packet", "wire"), NOTEPACK)
def test_same_bytes_as_notepack(packet: Packet, wire: str) -> None:
    assert PARSER.encode(packet) == [bytes.fromhex(wire)]
    assert PARSER.decoder().feed(bytes.fromhex(wire)) == packet


def test_client_extras_are_read_as_notepack_writes_them() -> None:
    decoder = PARSER.decoder()
    # socket.io-client adds "options"; ignored.
    wire = (
        "84a47479706502a46461746192a568656c6c6f01a76f7074696f6e7381a8636f6d7072657373c3a36e7370a12f"
    )
    assert decoder.feed(bytes.fromhex(wire)) == Packet(T.EVENT, "/", ["hello", 1])
    # ["x", undefined, ArrayBuffer <09 08>] with id: undefined
    wire = "84a47479706502a46461746193a178d40000c702000908a36e7370a12fa26964d40000"
    assert decoder.feed(bytes.fromhex(wire)) == Packet(T.EVENT, "/", ["x", None, b"\x09\x08"])
    # ["d", new Date(1000)]: fixext 8 of type 0, read as its bytes
    wire = "83a47479706502a46461746192a164d70000000000000003e8a36e7370a12f"
    assert decoder.feed(bytes.fromhex(wire)).data == ["d", b"\x00" * 6 + b"\x03\xe8"]


def test_other_extension_types_read_as_notepack_reads_them() -> None:
    packed = msgpack.packb(
        {"type": 2, "nsp": "/", "data": ["e", msgpack.ExtType(5, b"ab"), msgpack.Timestamp(1, 0)]}
    )
    assert PARSER.decoder().feed(packed).data == ["e", [5, b"ab"], 1.0]


def test_binary_types_go_out_as_event_and_ack() -> None:
    for packet_type, wire_type in ((T.BINARY_EVENT, 2), (T.BINARY_ACK, 3)):
        (encoded,) = PARSER.encode(Packet(packet_type, "/", ["x", b"\x00"], 1))
        assert isinstance(encoded, bytes)
        assert msgpack.unpackb(encoded)["type"] == wire_type


def test_query_is_not_sent() -> None:
    (encoded,) = PARSER.encode(Packet(T.CONNECT, "/admin", query="x=1"))
    assert msgpack.unpackb(encoded) == {"type": 0, "nsp": "/admin"}


def test_unserialisable_data_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot serialise packet data as msgpack"):
        PARSER.encode(Packet(T.EVENT, "/", ["a", object()]))
    with pytest.raises(ConfigurationError):
        PARSER.encode(Packet(T.EVENT, "/", ["a", 2**70]))


def pack(**fields: Any) -> bytes:
    message = {"type": 2, "nsp": "/", "data": ["a"]}
    message.update(fields)
    packed: bytes = msgpack.packb({k: v for k, v in message.items() if v is not ...})
    return packed


MALFORMED: list[tuple[str | bytes, str]] = [
    ("2", "binary messages only"),
    (b"", "invalid msgpack"),
    (b"\xc1", "invalid msgpack"),
    (b"\x92\x01", "invalid msgpack"),
    (b"\x01\x02", "invalid msgpack"),  # extra data
    (msgpack.packb({1: 2}), "invalid msgpack"),  # non-string key
    (msgpack.packb([2, "/", ["a"]]), "must be a map"),
    (pack(type=...), "invalid packet type"),
    (pack(type=5), "invalid packet type"),
    (pack(type=-1), "invalid packet type"),
    (pack(type="2"), "invalid packet type"),
    (pack(type=True), "invalid packet type"),
    (pack(nsp=...), "namespace must be a string"),
    (pack(nsp="admin"), "namespace must be a string"),
    (pack(nsp=b"/"), "namespace must be a string"),
    (pack(data=...), "EVENT payload must be a non-empty array"),
    (pack(data=[1]), "EVENT name must be a string"),
    (pack(data=["connect"]), "reserved"),
    (pack(type=3, data={}), "ACK payload must be an array"),
    (pack(type=0, data=["x"]), "CONNECT payload must be an object"),
    (pack(type=1, data={}), "DISCONNECT packet carries no payload"),
    (pack(type=4, data=1), "CONNECT_ERROR payload must be a string or an object"),
    (pack(id=-1), "ack id must be a non-negative integer"),
    (pack(id="1"), "ack id must be a non-negative integer"),
    (pack(id=1.0), "ack id must be a non-negative integer"),
]


@pytest.mark.parametrize(("wire", "message"), MALFORMED)
def test_malformed_packet_is_refused(wire: str | bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        PARSER.decoder().feed(wire)


def test_reset_has_nothing_to_drop() -> None:
    decoder = PARSER.decoder()
    decoder.reset()
    assert decoder.feed(pack()) == Packet(T.EVENT, "/", ["a"])


def test_missing_msgpack_names_the_extra_to_install() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "msgpack", None)
        with pytest.raises(ConfigurationError, match=r"pip install flask-realtime\[msgpack\]"):
            MsgpackParser()


def test_reexported_from_parsers() -> None:
    assert ReExported is MsgpackParser


def as_msgpack(packet: Packet) -> Packet:
    """The packet a msgpack decoder returns: no binary types on the wire, no query."""
    kind = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
    return Packet(kind, packet.namespace, packet.data, packet.id)


@settings(max_examples=300)
@given(sio_packets(version=5))
def test_round_trip(packet: Packet) -> None:
    (encoded,) = PARSER.encode(packet)
    assert PARSER.decoder().feed(encoded) == as_msgpack(packet)


@settings(max_examples=300)
@given(st.binary() | st.text())
def test_arbitrary_input_raises_only_protocol_error(data: bytes | str) -> None:
    try:
        PARSER.decoder().feed(data)
    except ProtocolError:
        pass


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.integers(-5, 5), children, max_size=4)
    ),
    max_leaves=10,
)
packet_maps = st.fixed_dictionaries(
    {},
    optional={
        "type": st.integers(-1, 7) | msgpack_values,
        "nsp": st.sampled_from(["/", "/a", "a", ""]) | msgpack_values,
        "data": msgpack_values,
        "id": st.integers(-2, 2**64 - 1) | msgpack_values,
    },
)


@settings(max_examples=300)
@given(packet_maps | msgpack_values)
def test_arbitrary_msgpack_raises_only_protocol_error(value: Any) -> None:
    try:
        PARSER.decoder().feed(msgpack.packb(value))
    except ProtocolError:
        pass


def test_encode_ack_is_what_encode_makes_of_the_ack_packet() -> None:
    for namespace, args in (("/", []), ("/chat", ["ok", b"\x00\x01"])):
        assert PARSER.encode_ack(namespace, 7, args) == PARSER.encode(
            Packet(T.ACK, namespace, args, 7)
        )


def test_encode_event_is_what_encode_makes_of_the_event_packet() -> None:
    for namespace, data, ack_id in (("/", ["ev"], None), ("/chat", ["ev", b"\x00\x01"], 3)):
        assert PARSER.encode_event(namespace, data, ack_id) == PARSER.encode(
            Packet(T.EVENT, namespace, data, ack_id)
        )
