"""The Redis Streams adapter in process, on the real Redis: two servers on one stream,
each with server-layer peers (``tests/server/fakes.py``), and the wire format.

Real sockets and real clients are in ``test_redis_streams_recovery.py``; here the
server's side is checked directly: offsets are stream ids, what is stored in Redis and
when, what a restore finds."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import pytest

from flask_realtime.adapters.redis_streams import RedisStreamsAdapter
from flask_realtime.adapters.redis_streams_wire import (
    decode_entry,
    decode_session,
    encode_entry,
    encode_session,
    is_offset,
    next_offset,
)
from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import SocketIOServer
from flask_realtime.server.cluster_messages import ClusterMessage, MessageType
from flask_realtime.server.recovery import RecoveryOptions, Session
from server.fakes import Peer

from .redis_support import unique_channel

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]


def _streams_url(redis_url: str) -> str:
    return redis_url.replace("redis://", "redis+streams://", 1)


async def until(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Wait on the loop until ``predicate()`` is truthy (the adapter's tasks run meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
    return value


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[SocketIOServer, SocketIOServer]]:
    stream = unique_channel()
    servers = []
    for _ in range(2):
        adapter = RedisStreamsAdapter(_streams_url(redis_url), channel=stream)
        server = SocketIOServer(adapter=adapter, recovery=RecoveryOptions())
        await server.start()
        servers.append(server)
    yield servers[0], servers[1]
    for server in servers:
        await server.stop()
    client = servers[0].adapter._redis  # type: ignore[attr-defined]
    assert client is None  # closed


def _entry_id(offset: str) -> tuple[int, int]:
    stamp, sequence = offset.split("-")
    return int(stamp), int(sequence)


def events(peer: Peer) -> list[list[Any]]:
    return [p.data for p in peer.packets() if p.type is PacketType.EVENT]


def reply(peer: Peer) -> dict[str, Any]:
    for packet in peer.packets():
        if packet.type is PacketType.CONNECT:
            assert isinstance(packet.data, dict)
            return packet.data
    raise AssertionError(peer.wire)


async def test_offsets_are_stream_ids_and_both_servers_deliver_in_stream_order(
    pair: tuple[SocketIOServer, SocketIOServer],
) -> None:
    a, b = pair
    pa, pb = Peer(a), Peer(b)
    pa.connect()
    pb.connect()
    a.emit("from-a", 1)
    b.emit("from-b", 2)
    a.emit("from-a", 3)
    await until(lambda: len(events(pa)) == 3 and len(events(pb)) == 3, "the three events")
    assert [e[:2] for e in events(pa)] == [e[:2] for e in events(pb)]
    offsets = [e[-1] for e in events(pa)]
    assert all(is_offset(o) for o in offsets)
    assert offsets == [e[-1] for e in events(pb)]  # one stream, one order, one offset each


async def test_a_session_left_on_one_server_is_restored_on_the_other(
    pair: tuple[SocketIOServer, SocketIOServer],
) -> None:
    a, b = pair
    first = Peer(a)
    sid = first.connect()
    a.enter_room(sid, "red")
    socket = a.get_socket(sid)
    assert socket is not None
    socket.user_data["user"] = "ann"
    a.emit("seen")
    await until(lambda: events(first), "the first event")
    offset, pid = events(first)[-1][-1], reply(first)["pid"]
    first.eio.lose(CloseReason.TRANSPORT_CLOSE)
    b.emit("missed", 1, to="red")
    b.emit("other-room", 2, to="blue")
    a.emit("missed", 3)
    await asyncio.sleep(0.1)  # let both reach the stream
    second = Peer(b)
    second.send_packet(Packet(PacketType.CONNECT, "/", {"pid": pid, "offset": offset}))
    await until(lambda: second.packets(), "the CONNECT reply")
    assert reply(second) == {"sid": sid, "pid": pid}
    missed = events(second)
    # Two servers wrote them: the stream's order is the order, each with its offset.
    assert sorted(e[1] for e in missed) == [1, 3]
    assert [e[-1] for e in missed] == sorted((e[-1] for e in missed), key=_entry_id)
    assert b.rooms(sid) == [sid, "red"]
    restored = b.get_socket(sid)
    assert restored is not None
    assert restored.recovered
    assert restored.user_data == {"user": "ann"}
    # Restored once: the session is gone from Redis.
    third = Peer(b)
    third.send_packet(Packet(PacketType.CONNECT, "/", {"pid": pid, "offset": offset}))
    await until(lambda: third.packets(), "the CONNECT reply")
    assert reply(third)["sid"] != sid


async def test_a_client_disconnect_drops_the_stored_session(
    pair: tuple[SocketIOServer, SocketIOServer],
) -> None:
    a, b = pair
    first = Peer(a)
    sid = first.connect()
    a.emit("seen")
    await until(lambda: events(first), "the first event")
    offset, pid = events(first)[-1][-1], reply(first)["pid"]
    adapter = a.adapter
    assert isinstance(adapter, RedisStreamsAdapter)
    redis = adapter._redis
    assert redis is not None
    key = adapter.session_prefix + pid
    assert await until_async(lambda: redis.exists(key), "the live session stored") == 1
    first.send("41")  # the client leaves for good
    assert await until_async(lambda: _gone(redis, key), "the session dropped")
    second = Peer(b)
    second.send_packet(Packet(PacketType.CONNECT, "/", {"pid": pid, "offset": offset}))
    await until(lambda: second.packets(), "the CONNECT reply")
    assert reply(second)["sid"] != sid


async def _gone(redis: Any, key: str) -> bool:
    return await redis.exists(key) == 0


async def until_async(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await check()):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return value


async def test_unknown_sessions_and_malformed_offsets_give_new_sessions(
    pair: tuple[SocketIOServer, SocketIOServer],
) -> None:
    a, _b = pair
    for auth in ({"pid": "nobody", "offset": "1-0"}, {"pid": "nobody", "offset": "not-an-id"}):
        peer = Peer(a)
        peer.send_packet(Packet(PacketType.CONNECT, "/", auth))
        await until(lambda p=peer: p.packets(), "the CONNECT reply")  # type: ignore[misc]
        assert "pid" in reply(peer)


def test_the_pub_sub_adapter_refuses_recovery(redis_url: str) -> None:
    from flask_realtime.adapters.redis import RedisAdapter

    with pytest.raises(ConfigurationError, match="redis\\+streams://"):
        SocketIOServer(adapter=RedisAdapter(redis_url), recovery=RecoveryOptions())


# -- the wire ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        ClusterMessage(MessageType.HEARTBEAT, "u1", "/"),
        ClusterMessage(MessageType.BROADCAST, "u1", "/chat",
                       {"packet": {"type": 2, "data": ["e", {"a": 1}], "nsp": "/chat"},
                        "opts": {"rooms": ["r"], "except": [], "flags": {}}}),
        ClusterMessage(MessageType.BROADCAST, "u1", "/",
                       {"packet": {"type": 2, "data": ["e", b"\x00\xff"], "nsp": "/"},
                        "opts": {"rooms": [], "except": [], "flags": {}}}),
    ],
    ids=["no-data", "json", "binary"],
)  # fmt: skip
def test_entries_round_trip(message: ClusterMessage) -> None:
    fields = encode_entry(message)
    assert fields["type"] == str(int(message.type))
    if message.data:
        binary = any(isinstance(v, bytes) for v in message.data["packet"]["data"])
        assert fields["data"].startswith("{") is not binary
    else:
        assert "data" not in fields
    wire = {k.encode(): v.encode() for k, v in fields.items()}  # as redis-py returns them
    assert decode_entry(wire) == message


def test_entries_as_nodes_adapter_writes_them() -> None:
    node = {"uid": "abc", "nsp": "/", "type": "3",
            "data": json.dumps({"packet": {"type": 2, "data": ["x"], "nsp": "/"},
                                "opts": {"rooms": [], "except": [], "flags": {}}})}  # fmt: skip
    decoded = decode_entry(node)
    assert decoded is not None
    assert decoded.type is MessageType.BROADCAST
    assert decoded.data["packet"]["data"] == ["x"]


@pytest.mark.parametrize(
    "fields",
    [{}, {"uid": "u", "nsp": "/", "type": "99"}, {"uid": "u", "nsp": "/", "type": "x"},
     {"uid": "u", "nsp": "/", "type": "3", "data": "{not json"},
     {"uid": "u", "nsp": "/", "type": "3", "data": "!!!"},
     {"uid": "u", "nsp": "/", "type": "3", "data": "[1]"}],
)  # fmt: skip
def test_malformed_entries_are_none(fields: dict[str, str]) -> None:
    assert decode_entry(fields) is None


def test_sessions_round_trip_and_read_nodes() -> None:
    session = Session("sid1", "pid1", ("sid1", "r"), {"user": "ann"}, 5.0)
    assert decode_session(encode_session(session), 5.0) == session
    # Node's @msgpack/msgpack encoding of {sid, pid, rooms, data}, with rooms from a Set.
    node = base64.b64encode(msgpack.packb({"sid": "s", "pid": "p", "rooms": ["r"], "data": {}}))
    restored = decode_session(node, 1.0)
    assert restored == Session("s", "p", ("s", "r"), None, 1.0)
    assert decode_session(b"???", 1.0) is None
    assert decode_session(base64.b64encode(msgpack.packb([1])), 1.0) is None


def test_offsets() -> None:
    assert is_offset("1700000000000-0")
    assert not is_offset("abc-1")
    assert not is_offset("1-")
    assert next_offset("12-3") == "12-4"
