"""The wire of the sharded Redis adapter (Node's ``createShardedAdapter``): cluster
messages as JSON or msgpack, and the channel each one goes to."""

from __future__ import annotations

import json
import math

import pytest

from flask_realtime.adapters.redis_connect import SubscriptionMode
from flask_realtime.adapters.redis_sharded import sharded_channel_of
from flask_realtime.adapters.redis_sharded_wire import (
    ShardedChannels,
    decode_sharded,
    encode_sharded,
)
from flask_realtime.adapters.redis_wire import unpackb
from flask_realtime.server.cluster_adapter import ClusterMessage, MessageType


def _broadcast(rooms: list[str], **data: object) -> ClusterMessage:
    packet = {"type": 2, "data": ["ev", 1], "nsp": "/"}
    opts = {"rooms": rooms, "except": [], "flags": {}}
    return ClusterMessage(
        MessageType.BROADCAST, "u1", "/", {"packet": packet, "opts": opts, **data}
    )


def test_a_message_is_json_as_node_writes_it() -> None:
    payload = encode_sharded(_broadcast(["r"]))
    assert json.loads(payload) == {
        "uid": "u1", "nsp": "/", "type": 3,
        "data": {"packet": {"type": 2, "data": ["ev", 1], "nsp": "/"},
                 "opts": {"rooms": ["r"], "except": [], "flags": {}}},
    }  # fmt: skip
    assert decode_sharded(payload) == _broadcast(["r"])


@pytest.mark.parametrize("value", [b"\x00\xff", math.nan])
def test_binary_or_what_json_cannot_carry_goes_as_msgpack(value: object) -> None:
    message = ClusterMessage(MessageType.SERVER_SIDE_EMIT, "u1", "/chat", {"packet": ["e", value]})
    payload = encode_sharded(message)
    assert payload[:1] != b"{"
    assert unpackb(payload)["data"]["packet"][0] == "e"
    decoded = decode_sharded(payload)
    assert decoded is not None
    assert decoded.nsp == "/chat"


def test_an_acknowledgement_of_several_values_keeps_them_all_for_us() -> None:
    ack = ClusterMessage(
        MessageType.BROADCAST_ACK, "u2", "/", {"requestId": "x", "packet": ("a", 2)}
    )
    payload = encode_sharded(ack)
    assert json.loads(payload)["data"]["packet"] == "a"  # what Node's adapter reads
    decoded = decode_sharded(payload)
    assert decoded is not None
    assert decoded.data["packet"] == ("a", 2)


@pytest.mark.parametrize(
    "payload",
    [b"\x92\x01\x02", b'{"uid":1,"nsp":"/","type":3}', b'{"uid":"u","nsp":"/","type":99}',
     b'{"uid":"u","nsp":"/","type":3,"data":[]}', b'{"uid":"u","nsp":"/","type":"x"}'],
)  # fmt: skip
def test_what_is_not_a_cluster_message_is_none(payload: bytes) -> None:
    assert decode_sharded(payload) is None


def test_garbage_raises_value_error() -> None:
    with pytest.raises(ValueError):
        decode_sharded(b"{not json")


SID = "A" * 20  # the length of Node's and our socket ids


@pytest.mark.parametrize(
    ("mode", "message", "channel"),
    [
        (SubscriptionMode.STATIC, _broadcast(["r"]), "k#/#"),
        (SubscriptionMode.DYNAMIC, _broadcast(["r"]), "k#/#r#"),
        (SubscriptionMode.DYNAMIC, _broadcast([SID]), "k#/#"),
        (SubscriptionMode.DYNAMIC_PRIVATE, _broadcast([SID]), f"k#/#{SID}#"),
        (SubscriptionMode.DYNAMIC, _broadcast(["r", "s"]), "k#/#"),
        (SubscriptionMode.DYNAMIC, _broadcast(["r"], requestId="q"), "k#/#"),
        (SubscriptionMode.DYNAMIC, ClusterMessage(MessageType.SOCKETS_JOIN, "u", "/"), "k#/#"),
    ],
)
def test_the_channel_of_a_message_is_nodes(
    mode: SubscriptionMode, message: ClusterMessage, channel: str
) -> None:
    assert sharded_channel_of(ShardedChannels("k"), mode, message) == channel
