"""adapters/bus_forwarding.py: requests between servers over a real Redis, one channel per
server process, numbers unique in the cluster, a gone process noticed at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis

from flask_realtime.adapters.bus_forwarding import RELAY_KINDS, RedisForwarder, bus_url
from flask_realtime.exceptions import BrokerUnavailableError

from .redis_support import free_port

pytestmark = pytest.mark.timeout(30)


class Recording:
    """A receiver that queues what arrives, as ``(what, peer, request_id, value)``."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[str, int, int | None, Any]] = asyncio.Queue()

    def forwarded_request(self, peer: int, request_id: int, value: Any) -> None:
        self.got.put_nowait(("request", peer, request_id, value))

    def forwarded_response(self, peer: int, request_id: int, value: Any) -> None:
        self.got.put_nowait(("response", peer, request_id, value))

    def forwarded_cancel(self, peer: int, request_id: int) -> None:
        self.got.put_nowait(("cancel", peer, request_id, None))

    def peer_gone(self, peer: int) -> None:
        self.got.put_nowait(("gone", peer, None, None))

    async def next(self) -> tuple[str, int, int | None, Any]:
        return await asyncio.wait_for(self.got.get(), 5)


async def joined(redis_url: str, channel: str) -> tuple[RedisForwarder, Recording]:
    forwarder = await asyncio.to_thread(RedisForwarder.join, redis_url, channel)
    receiver = Recording()
    forwarder.on_forwarding(receiver)
    await forwarder.connect()
    return forwarder, receiver


def test_only_one_redis_with_classic_pub_sub_carries_requests() -> None:
    assert bus_url("redis://h:6379/0") == "redis://h:6379/0"
    assert bus_url("REDISS://h") is not None
    assert bus_url("unix:///run/redis.sock") is not None
    # Our own parameters are taken out; redis-py's stay.
    assert bus_url("redis://h/0?socket_timeout=3") == "redis://h/0?socket_timeout=3"
    # A PUBLISH counts one node's subscribers only: no forwarding on these.
    assert bus_url("redis://h:6379/0?sharded=true") is None
    assert bus_url("redis+cluster://h1:7000,h2:7000") is None
    assert bus_url("amqp://h") is None
    assert bus_url(None) is None
    assert bus_url(object()) is None


def test_every_process_gets_a_number_of_its_own(redis_url: str) -> None:
    channel = f"fwd-{uuid.uuid4().hex}"
    numbers = [RedisForwarder.join(redis_url, channel).index for _ in range(5)]
    assert len(set(numbers)) == 5
    assert all(0 <= number < 10**9 for number in numbers)


def test_an_unreachable_redis_is_a_clear_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(BrokerUnavailableError, match="cannot reach the message queue at"):
        RedisForwarder.join(url, "x")


async def test_requests_answers_and_cancels_arrive_in_order(redis_url: str) -> None:
    channel = f"fwd-{uuid.uuid4().hex}"
    a, at_a = await joined(redis_url, channel)
    b, at_b = await joined(redis_url, channel)
    try:
        assert a.request(b.index, 1, {"method": "GET", "body": b"\x00bytes"})
        a.cancel(b.index, 1)
        assert await at_b.next() == ("request", a.index, 1, {"method": "GET", "body": b"\x00bytes"})
        assert await at_b.next() == ("cancel", a.index, 1, None)
        b.respond(a.index, 2, {"status": 200})
        assert await at_a.next() == ("response", b.index, 2, {"status": 200})
    finally:
        await a.shutdown()
        await b.shutdown()


async def test_a_request_to_a_process_nobody_listens_for_is_gone_at_once(
    redis_url: str,
) -> None:
    channel = f"fwd-{uuid.uuid4().hex}"
    a, at_a = await joined(redis_url, channel)
    b, _ = await joined(redis_url, channel)
    await b.shutdown()  # as a stopped server: its channel has no subscriber
    try:
        assert a.request(b.index, 7, {"method": "GET"})
        assert await at_a.next() == ("gone", b.index, None, None)
    finally:
        await a.shutdown()


async def test_a_message_that_is_not_ours_is_ignored(redis_url: str) -> None:
    channel = f"fwd-{uuid.uuid4().hex}"
    a, at_a = await joined(redis_url, channel)
    b, _ = await joined(redis_url, channel)
    client = redis.Redis.from_url(redis_url)
    try:
        client.publish(f"{channel}#eio#{a.index}#", b"not a message of ours")
        b.respond(a.index, 3, "after the garbage")
        assert await at_a.next() == ("response", b.index, 3, "after the garbage")
    finally:
        client.close()
        await a.shutdown()
        await b.shutdown()


async def test_what_is_sent_before_connect_is_published_once_connected(
    redis_url: str,
) -> None:
    channel = f"fwd-{uuid.uuid4().hex}"
    owner, at_owner = await joined(redis_url, channel)
    early = await asyncio.to_thread(RedisForwarder.join, redis_url, channel)
    early.on_forwarding(Recording())
    try:
        assert early.request(owner.index, 7, {"early": True})
        await early.connect()
        assert await at_owner.next() == ("request", early.index, 7, {"early": True})
    finally:
        await owner.shutdown()
        await early.shutdown()
    assert not early.request(owner.index, 8, {})  # after shutdown: nothing more


async def test_relayed_websocket_messages_reach_the_relay_receiver_in_order(
    redis_url: str,
) -> None:
    channel = f"fwd-{uuid.uuid4().hex}"
    a, _ = await joined(redis_url, channel)
    b, _ = await joined(redis_url, channel)
    got: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    class Relayed:
        def relayed(self, kind: int, peer: int, conn_id: int, value: Any) -> None:
            got.put_nowait((kind, peer, conn_id, value))

        def relay_peer_gone(self, peer: int) -> None:
            got.put_nowait(("gone", peer))

    b.on_relay(Relayed())
    a.on_relay(Relayed())
    try:
        for n in range(50):
            assert a.relay(RELAY_KINDS[2], b.index, 5, [f"text {n}", bytes([n])])
        for n in range(50):
            assert await asyncio.wait_for(got.get(), 5) == (
                RELAY_KINDS[2], a.index, 5, [f"text {n}", bytes([n])],
            )  # fmt: skip
        await b.shutdown()
        assert a.relay(RELAY_KINDS[3], b.index, 5, [])
        assert await asyncio.wait_for(got.get(), 5) == ("gone", b.index)
    finally:
        await a.shutdown()
        await b.shutdown()
