"""Hypothesis strategies for the protocol tests: packets of every type, valid by construction."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from flask_realtime.protocol import engineio, socketio
from flask_realtime.protocol.binary import has_binary
from flask_realtime.protocol.parsers import DEFAULT_MAX_ATTACHMENTS

EioType = engineio.PacketType
SioType = socketio.PacketType

# Keys that a decoder reads as a binary placeholder are left out of generated data.
_keys = st.text(max_size=8).filter(lambda key: key != "_placeholder")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4)


json_values = st.recursive(json_scalars, _containers, max_leaves=12)
"""JSON values (no bytes)."""

binary_values = st.recursive(json_scalars | st.binary(max_size=16), _containers, max_leaves=12)
"""JSON values with bytes anywhere."""

json_objects = st.dictionaries(_keys, json_values, max_size=4)

event_names = st.text(max_size=12).filter(lambda name: name not in socketio.RESERVED_EVENTS)

namespaces = st.just("/") | st.text(max_size=10).filter(lambda s: "," not in s).map(
    lambda s: "/" + s
)

ack_ids = st.none() | st.integers(min_value=0, max_value=2**53 - 1)


# Engine.IO ----------------------------------------------------------------------------


def eio_packets(*, separator_free: bool = True) -> st.SearchStrategy[engineio.Packet]:
    """Engine.IO packets; text never holds ``\\x1e`` when ``separator_free`` (v4 payloads)."""
    text = st.text(max_size=20)
    if separator_free:
        text = text.filter(lambda s: engineio.SEPARATOR not in s)
    textual = st.builds(engineio.Packet, st.sampled_from(EioType), text)
    binary = st.builds(engineio.Packet, st.just(EioType.MESSAGE), st.binary(max_size=20))
    return textual | binary


# Socket.IO ----------------------------------------------------------------------------


def _attachments(value: Any) -> int:
    """How many binary attachments ``value`` would be sent with."""
    if isinstance(value, bytes):
        return 1
    if isinstance(value, list):
        return sum(_attachments(item) for item in value)
    if isinstance(value, dict):
        return sum(_attachments(item) for item in value.values())
    return 0


def _within_limit(data: list[Any]) -> bool:
    # A packet with more attachments than the parser accepts is refused by design
    # (Node's maxAttachments); round trips are for packets a peer may send.
    return _attachments(data) <= DEFAULT_MAX_ATTACHMENTS


def _event_data(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.builds(
        lambda name, args: [name, *args], event_names, st.lists(values, max_size=3)
    ).filter(_within_limit)


def sio_packets(*, version: int = 5, binary: bool = True) -> st.SearchStrategy[socketio.Packet]:
    """Valid Socket.IO packets of every type for protocol ``version``."""
    values = binary_values if binary else json_values
    connect_data = st.none() | json_objects if version >= 5 else st.none()
    if version >= 5:
        connect = st.builds(socketio.Packet, st.just(SioType.CONNECT), namespaces, connect_data)
    else:
        query = st.none() | st.text(max_size=12).filter(lambda s: "," not in s)
        plain_namespace = namespaces.filter(lambda s: "?" not in s)
        connect = st.builds(
            lambda ns, q: socketio.Packet(SioType.CONNECT, ns, query=q), plain_namespace, query
        )
    disconnect = st.builds(socketio.Packet, st.just(SioType.DISCONNECT), namespaces)
    error = st.builds(
        socketio.Packet,
        st.just(SioType.CONNECT_ERROR),
        namespaces,
        st.text(max_size=12) | json_objects,
    )
    event = st.builds(
        socketio.Packet,
        st.sampled_from([SioType.EVENT, SioType.BINARY_EVENT]),
        namespaces,
        _event_data(values),
        ack_ids,
    )
    ack = st.builds(
        socketio.Packet,
        st.sampled_from([SioType.ACK, SioType.BINARY_ACK]),
        namespaces,
        st.lists(values, max_size=3).filter(_within_limit),
        ack_ids,
    )
    return connect | disconnect | error | event | ack


def as_encoded(packet: socketio.Packet) -> socketio.Packet:
    """The packet a JSON decoder returns for ``packet``: its type as the encoder chose it."""
    kind = packet.type
    if kind in (SioType.EVENT, SioType.BINARY_EVENT):
        kind = SioType.BINARY_EVENT if has_binary(packet.data) else SioType.EVENT
    elif kind in (SioType.ACK, SioType.BINARY_ACK):
        kind = SioType.BINARY_ACK if has_binary(packet.data) else SioType.ACK
    return socketio.Packet(kind, packet.namespace, packet.data, packet.id, packet.query)
