"""The Redis wire codecs against bytes Node's notepack.io wrote (captured from
notepack.io 3.0.1, @socket.io/redis-adapter's and redis-emitter's, and 2.2.0 for
``undefined``): values arrive as a Node server would send them to its clients."""

from __future__ import annotations

import pytest

from flask_realtime.adapters.redis_wire import (
    Channels,
    decode_response,
    encode_response,
    packb,
    unpackb,
)
from flask_realtime.server.cluster_adapter import ClusterMessage, MessageType


@pytest.mark.parametrize(
    ("hex_payload", "expected"),
    [
        # new Date("2024-05-06T07:08:09.123Z"): timestamp 64
        ("d7ff1d535300663881d9", "2024-05-06T07:08:09.123Z"),
        # new Date(-1): timestamp 96 (ext 8, 12 bytes)
        ("c70cff3b8b87c0ffffffffffffffff", "1969-12-31T23:59:59.999Z"),
        ("d7ff00000003e4e6b080", "2500-01-01T00:00:00.000Z"),
        # {b: [undefined, 1], d: new Date(0)}: timestamp 32 inside a map
        ("82a16292c001a164d6ff00000000", {"b": [None, 1], "d": "1970-01-01T00:00:00.000Z"}),
        # notepack.io 2: {a: undefined} (JSON.stringify leaves the key out), [undefined]
        ("81a161d40000", {}),
        ("91d40000", [None]),
        # an ArrayBuffer of 3 bytes (ext 8, type 0) and a Buffer (bin 8)
        ("c70300010203", b"\x01\x02\x03"),
        ("c40100", b"\x00"),
    ],
)
def test_node_values_decode_as_node_clients_would_get_them(
    hex_payload: str, expected: object
) -> None:
    assert unpackb(bytes.fromhex(hex_payload)) == expected


def test_a_broadcast_with_a_date_decodes() -> None:
    payload = packb(["uid", {"type": 2, "data": ["d", {"k": 1}], "nsp": "/"}, {}])
    dated = payload.replace(b"\x81\xa1k\x01", b"\x81\xa1k" + bytes.fromhex("d7ff1d535300663881d9"))
    assert unpackb(dated)[1]["data"] == ["d", {"k": "2024-05-06T07:08:09.123Z"}]


def test_strings_that_look_like_markers_are_kept() -> None:
    value = {"s": "\u00d4\u0000 x", "b": b"\xd7\xff\x00"}
    assert unpackb(packb(value)) == value


@pytest.mark.parametrize(
    ("answer", "node_sees"),
    [(("one", "two"), "one"), ("only", "only"), (None, None), ((), None), ([1, 2], [1, 2])],
)
def test_a_broadcast_ack_carries_the_first_answer_for_node_and_all_for_us(
    answer: object, node_sees: object
) -> None:
    channels = Channels("k")
    message = ClusterMessage(
        MessageType.BROADCAST_ACK, "me", "/", {"requestId": "r1", "packet": answer, "sid": "s1"}
    )
    encoded = encode_response(channels, "them", message)
    assert encoded is not None
    channel, payload = encoded
    assert channel == "k-response#/#them#"
    body = unpackb(payload)
    assert body["type"] == 9
    assert body["requestId"] == "r1"
    assert body["packet"] == node_sees  # what Node's adapter hands to emitWithAck
    decoded = decode_response("/", body, "anon")
    assert decoded is not None
    assert decoded.data["packet"] == answer
    assert decoded.data["sid"] == "s1"
