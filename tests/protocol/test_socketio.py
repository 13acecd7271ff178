"""Socket.IO packets and payload rules (protocol/socketio.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol.socketio import (
    RESERVED_EVENTS,
    Packet,
    PacketType,
    check_ack_id,
    check_data,
    check_namespace,
)

T = PacketType


def test_packet_types_have_the_spec_numbers() -> None:
    # v5 "Exchange protocol": the table of packet types.
    assert [(t.name, t.value) for t in T] == [
        ("CONNECT", 0),
        ("DISCONNECT", 1),
        ("EVENT", 2),
        ("ACK", 3),
        ("CONNECT_ERROR", 4),
        ("BINARY_EVENT", 5),
        ("BINARY_ACK", 6),
    ]


def test_packet_defaults() -> None:
    packet = Packet(T.CONNECT)
    assert (packet.namespace, packet.data, packet.id, packet.query) == ("/", None, None, None)
    assert packet == Packet(T.CONNECT, "/", None, None, None)
    assert Packet(T.EVENT, data=["a"], id=3) == Packet(T.EVENT, "/", ["a"], 3)


def test_packet_is_frozen_and_compares_by_value() -> None:
    packet = Packet(T.EVENT, "/admin", ["a", {"b": 1}], 7)
    with pytest.raises(AttributeError):
        packet.id = 8  # type: ignore[misc]
    assert packet == Packet(T.EVENT, "/admin", ["a", {"b": 1}], 7)
    assert packet != Packet(T.EVENT, "/admin", ["a", {"b": 2}], 7)
    assert "namespace='/admin'" in repr(packet)


VALID: list[tuple[int, Any, int]] = [
    (T.CONNECT, None, 5),
    (T.CONNECT, {"token": "123"}, 5),
    (T.CONNECT, None, 4),
    (T.DISCONNECT, None, 5),
    (T.EVENT, ["foo"], 5),
    (T.EVENT, ["foo", 1, {"a": [None]}], 4),
    (T.BINARY_EVENT, ["baz", b"\x01"], 5),
    (T.ACK, [], 5),
    (T.BINARY_ACK, [b"\x01"], 5),
    (T.CONNECT_ERROR, {"message": "Not authorized"}, 5),
    (T.CONNECT_ERROR, "Not authorized", 4),
]

INVALID: list[tuple[int, Any, int, str]] = [
    (T.CONNECT, ["a"], 5, "CONNECT payload must be an object or nothing"),
    (T.CONNECT, "token", 5, "CONNECT payload must be an object or nothing"),
    (T.CONNECT, {"token": "123"}, 4, "CONNECT payload must be nothing in protocol v4"),
    (T.DISCONNECT, {}, 5, "DISCONNECT packet carries no payload"),
    (T.EVENT, None, 5, "EVENT payload must be a non-empty array"),
    (T.EVENT, [], 5, "EVENT payload must be a non-empty array"),
    (T.EVENT, {"a": 1}, 5, "EVENT payload must be a non-empty array"),
    (T.EVENT, [1, 2], 5, "EVENT name must be a string"),
    (T.BINARY_EVENT, [None], 5, "EVENT name must be a string"),
    (T.EVENT, ["connect"], 5, "reserved"),
    (T.EVENT, ["disconnect", 1], 4, "reserved"),
    (T.ACK, None, 5, "ACK payload must be an array"),
    (T.BINARY_ACK, {"a": 1}, 5, "ACK payload must be an array"),
    (T.CONNECT_ERROR, None, 5, "CONNECT_ERROR payload must be a string or an object"),
    (T.CONNECT_ERROR, ["x"], 5, "CONNECT_ERROR payload must be a string or an object"),
    (T.CONNECT_ERROR, 42, 4, "CONNECT_ERROR payload must be a string or an object"),
]


@pytest.mark.parametrize(("packet_type", "data", "version"), VALID)
def test_valid_payloads_pass(packet_type: int, data: Any, version: int) -> None:
    check_data(packet_type, data, version)


@pytest.mark.parametrize(("packet_type", "data", "version", "message"), INVALID)
def test_invalid_payloads_are_refused(
    packet_type: int, data: Any, version: int, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        check_data(packet_type, data, version)


def test_reserved_events_are_the_lifecycle_names_of_node() -> None:
    assert {"connect", "connect_error", "disconnect", "disconnecting"} <= RESERVED_EVENTS
    assert "message" not in RESERVED_EVENTS


@pytest.mark.parametrize("namespace", ["/", "/admin", "/a?b", "/😀"])
def test_namespace_starting_with_slash_passes(namespace: str) -> None:
    assert check_namespace(namespace) == namespace


@pytest.mark.parametrize("namespace", ["", "admin", None, 1, ["/"]])
def test_other_namespaces_are_refused(namespace: object) -> None:
    with pytest.raises(ProtocolError, match="namespace must be a string starting with '/'"):
        check_namespace(namespace)


@pytest.mark.parametrize("ack_id", [None, 0, 12, 2**53])
def test_absent_or_natural_ack_id_passes(ack_id: int | None) -> None:
    assert check_ack_id(ack_id) == ack_id


@pytest.mark.parametrize("ack_id", [-1, 1.5, "12", True])
def test_other_ack_ids_are_refused(ack_id: object) -> None:
    with pytest.raises(ProtocolError, match="ack id must be a non-negative integer"):
        check_ack_id(ack_id)


def test_packet_supports_dataclass_replace() -> None:
    # The hand-written __init__ keeps the field names, which dataclasses.replace relies on.
    packet = Packet(T.EVENT, "/admin", ["a"], 1)
    assert dataclasses.replace(packet, id=2) == Packet(T.EVENT, "/admin", ["a"], 2)
