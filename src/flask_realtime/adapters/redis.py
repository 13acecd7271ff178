"""The Redis adapter: several server processes share their clients through Redis pub/sub.

``SocketIO(app, message_queue="redis://host:6379/0")`` (also ``rediss://``, ``unix://``,
and ``redis+cluster://`` for a Redis Cluster) makes each server's adapter a
:class:`RedisAdapter`. It speaks the wire format of Node's ``@socket.io/redis-adapter``
(:mod:`flask_realtime.adapters.redis_wire`), so the servers of a cluster may be
flask-realtime processes, Node servers with that adapter, and write-only emitters (ours,
:mod:`flask_realtime.emitter`, or Node's ``@socket.io/redis-emitter``), as long as they
use the same ``channel`` (the key prefix; ``"flask-socketio"`` by default,
Flask-SocketIO's; Node's default is ``"socket.io"``). With ``?sharded=true`` in the URL
the servers use sharded pub/sub instead (:mod:`flask_realtime.adapters.redis_sharded`).

The lifecycle, the writer and the back-off are :mod:`~flask_realtime.adapters.redis_base`'s.
The reader here subscribes to the channels of "/" and of every namespace that gets
sockets (or server-side event handlers), on one connection (on a Redis Cluster, to one
node: classic pub/sub reaches every node).

Counting the other servers of a namespace (for requests that wait for answers) is
``PUBSUB NUMSUB`` of its request channel (summed over a cluster's nodes) minus one, as
Node does; there is no heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.broker_link import backoff
from flask_realtime.adapters.redis_base import RedisAdapterBase
from flask_realtime.adapters.redis_connect import parse_redis_url, redis_errors
from flask_realtime.adapters.redis_wire import (
    DEFAULT_CHANNEL,
    Channels,
    RequestType,
    decode_broadcast,
    decode_request,
    decode_response,
    dumps_json,
    encode_message,
    encode_response,
    load_payload,
)
from flask_realtime.exceptions import BrokerUnavailableError
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.server.cluster_adapter import ClusterMessage
from flask_realtime.typing import NamespaceName

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

    from flask_realtime.adapters.redis_sharded import ShardedRedisAdapter

__all__ = ["RedisAdapter", "from_url"]

logger = logging.getLogger(__name__)


def from_url(
    url: str, *, channel: str = DEFAULT_CHANNEL, **options: Any
) -> RedisAdapter | ShardedRedisAdapter:
    """The adapter for ``message_queue=url`` (``binding/adapters.py`` calls this):
    :class:`RedisAdapter`, or the sharded one when the URL says ``sharded=true``."""
    if parse_redis_url(url).sharded:
        from flask_realtime.adapters.redis_sharded import ShardedRedisAdapter

        return ShardedRedisAdapter(url, channel=channel, **options)
    return RedisAdapter(url, channel=channel, **options)


class RedisAdapter(RedisAdapterBase):
    """A cluster adapter on Redis pub/sub (see the module docstring and
    :class:`~flask_realtime.adapters.redis_base.RedisAdapterBase` for the arguments)."""

    def __init__(self, url: str, *, channel: str = DEFAULT_CHANNEL, **options: Any) -> None:
        super().__init__(url, channel=channel, **options)
        self.channels = Channels(channel)
        self._pubsub: PubSub | None = None
        self._subscribed: set[NamespaceName] = set()
        self._routes: dict[str, tuple[str, NamespaceName]] = {}  # channel/pattern -> kind, nsp
        self._anonymous = itertools.count()

    async def _listen(self) -> None:
        self._pubsub = await self._subscribe_all()

    async def _stop_listening(self) -> None:
        await self._drop_pubsub()

    # -- ClusterAdapter: the transport ---------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Queue ``message`` for the writer, in Node's Redis wire format."""
        encoded = encode_message(self.channels, message)
        if encoded is not None:
            self._link.enqueue(encoded)

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Queue a response for the writer, to the requester's own channel."""
        encoded = encode_response(self.channels, requester, message)
        if encoded is not None:
            self._link.enqueue(encoded)

    async def peer_count(self, namespace: NamespaceName) -> int:
        """``PUBSUB NUMSUB`` of the namespace's request channel, minus this server."""
        count = await self._count_subscribers("NUMSUB", self.channels.request(namespace))
        return max(0, count - (1 if namespace in self._subscribed else 0))

    # -- the reader ------------------------------------------------------------------------

    async def _subscribe_all(self) -> PubSub:
        """A new pub/sub connection subscribed to every watched namespace."""
        if self._redis is None:
            raise BrokerUnavailableError("the Redis adapter is closed")
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._subscribed = set()
        try:
            await self._subscribe(pubsub, list(self._watched))
        except BaseException:
            with contextlib.suppress(*redis_errors()):
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            raise
        return pubsub

    async def _subscribe(self, pubsub: PubSub, namespaces: list[NamespaceName]) -> None:
        channels = self.channels
        names: list[str] = []
        patterns: list[str] = []
        for nsp in namespaces:
            request = channels.request(nsp)
            response = channels.response(nsp)
            specific = channels.response(nsp, self.uid)
            pattern = channels.broadcast_pattern(nsp)
            self._routes[request] = ("request", nsp)
            self._routes[response] = ("response", nsp)
            self._routes[specific] = ("response", nsp)
            self._routes[pattern] = ("broadcast", nsp)
            names += (request, response, specific)
            patterns.append(pattern)
        if names:
            await pubsub.subscribe(*names)
            await pubsub.psubscribe(*patterns)
        self._subscribed.update(namespaces)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*redis_errors()):
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]

    async def _read(self) -> None:
        delays = backoff()
        errors = redis_errors()
        link = self._link
        while not link.closing:
            try:
                pubsub = self._pubsub
                if pubsub is not None and link.down:
                    # The writer found the broker gone while this idle subscription
                    # noticed nothing (a Redis that accepts but never answers): subscribe
                    # anew, which tells when it answers again.
                    await self._drop_pubsub()
                    pubsub = None
                if pubsub is None:
                    pubsub = self._pubsub = await self._subscribe_all()
                    link.recovered()
                    delays = backoff()
                new = [nsp for nsp in self._watched if nsp not in self._subscribed]
                if new:
                    await self._subscribe(pubsub, new)
                message = await pubsub.get_message(timeout=0.05)
                if message is not None:
                    self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except errors as exc:
                if link.closing:
                    return
                link.lost(f"{type(exc).__name__}: {exc}")
                await self._drop_pubsub()
                await asyncio.sleep(next(delays))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "pmessage":
            route = self._routes.get(_text(message.get("pattern")))
        elif kind == "message":
            route = self._routes.get(_text(message.get("channel")))
        else:
            return
        payload = message.get("data")
        if route is None or not isinstance(payload, bytes | bytearray):
            return
        where, nsp = route
        try:
            if where == "broadcast":
                decoded = decode_broadcast(bytes(payload))
                if decoded is not None and decoded.nsp == nsp:
                    self.on_message(decoded)
                return
            body = load_payload(bytes(payload))
            if not isinstance(body, dict):
                return
            if where == "request":
                self._on_request(nsp, body)
            else:
                response = decode_response(nsp, body, f"peer-{next(self._anonymous)}")
                if response is not None:
                    self.on_message(response)
        except Exception:
            logger.warning("ignoring a malformed message on the Redis channel of %s", nsp,
                           exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip

    def _on_request(self, nsp: NamespaceName, body: dict[str, Any]) -> None:
        request_type = body.get("type")
        uid = body.get("uid")
        if uid == self.uid:
            return
        if request_type in (RequestType.SOCKETS, RequestType.ALL_ROOMS) and isinstance(uid, str):
            # Node's io.allSockets() / allRooms(): answered here (not cluster messages).
            if request_type == RequestType.SOCKETS:
                opts = BroadcastOptions(frozenset(str(r) for r in body.get("rooms") or ()))
                answer: dict[str, Any] = {
                    "requestId": body.get("requestId"),
                    "sockets": [s.sid for s in self.local_sockets(nsp, opts)],
                }
            else:
                ns = self._namespaces.get(nsp)
                answer = {"requestId": body.get("requestId"),
                          "rooms": list(ns.rooms) if ns is not None else []}  # fmt: skip
            self._link.enqueue((self.channels.response(nsp, uid), dumps_json(answer)))
            return
        message = decode_request(nsp, body)
        if message is not None:
            self.on_message(message)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
