"""The sharded Redis adapter: the cluster on Redis 7's sharded pub/sub, as Node's
``createShardedAdapter`` of ``@socket.io/redis-adapter`` does it.

``SocketIO(app, message_queue="redis://host:6379/0?sharded=true")`` (or on a Redis
Cluster, ``redis+cluster://host:7000?sharded=true``) makes each server's adapter a
:class:`ShardedRedisAdapter`. Classic pub/sub sends every message to every node of a
Redis Cluster; sharded pub/sub keeps a channel on the node that owns its slot, so a
cluster's pub/sub traffic spreads over its nodes. The channels and the message format
are Node's (:mod:`~flask_realtime.adapters.redis_sharded_wire`), so our servers and
Node servers with the sharded adapter share a cluster; ``subscription_mode`` in the URL
is Node's ``subscriptionMode`` (``dynamic`` by default).

The servers of a namespace are counted by ``PUBSUB SHARDNUMSUB`` of its channel (summed
over a cluster's nodes), as Node does; there is no heartbeat. Listening is
:class:`~flask_realtime.adapters.redis_shards.ShardListener`'s (one connection per node
that owns one of our channels); the rest is
:class:`~flask_realtime.adapters.redis_base.RedisAdapterBase`'s.

Limits, as Node's: Redis 7 or later; a server of the cluster receives every broadcast of
a namespace it listens on except, in the dynamic modes, broadcasts to a single room it
has no client in; the emitters of a sharded cluster must be sharded too (ours is, with
the same URL; Node's ``@socket.io/redis-emitter`` publishes to classic channels only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.broker_link import backoff
from flask_realtime.adapters.io_tasks import quietly
from flask_realtime.adapters.redis_base import RedisAdapterBase
from flask_realtime.adapters.redis_connect import SubscriptionMode, redis_errors
from flask_realtime.adapters.redis_sharded_wire import (
    ShardedChannels,
    decode_sharded,
    encode_sharded,
    looks_like_a_sid,
)
from flask_realtime.adapters.redis_shards import ShardListener, SlotMoved
from flask_realtime.adapters.redis_wire import DEFAULT_CHANNEL
from flask_realtime.server.cluster_adapter import ClusterMessage, MessageType
from flask_realtime.typing import NamespaceName, Room

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket

__all__ = ["ShardedRedisAdapter", "sharded_channel_of"]

logger = logging.getLogger(__name__)


def sharded_channel_of(
    channels: ShardedChannels, mode: SubscriptionMode, message: ClusterMessage
) -> str:
    """The channel Node's sharded adapter publishes ``message`` to: a broadcast to one
    room (and no acknowledgements) on the room's own channel in the dynamic modes, all
    else on the namespace's channel."""
    if message.type is MessageType.BROADCAST and mode is not SubscriptionMode.STATIC:
        data = message.data
        rooms: list[Any] = list(data["opts"].get("rooms") or ())
        if data.get("requestId") is None and len(rooms) == 1:
            room = str(rooms[0])
            if mode is SubscriptionMode.DYNAMIC_PRIVATE or not looks_like_a_sid(room):
                return channels.room(message.nsp, room)
    return channels.main(message.nsp)


class ShardedRedisAdapter(RedisAdapterBase):
    """A cluster adapter on sharded Redis pub/sub (see the module docstring and
    :class:`~flask_realtime.adapters.redis_base.RedisAdapterBase` for the arguments).

    Args:
        subscription_mode: ``static``, ``dynamic`` or ``dynamic-private`` (Node's
            ``subscriptionMode``); by default the URL's, else ``dynamic``.
    """

    publish_command = "SPUBLISH"

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        subscription_mode: str | SubscriptionMode | None = None,
        **options: Any,
    ) -> None:
        super().__init__(url, channel=channel, **options)
        self.mode = (
            SubscriptionMode(subscription_mode)
            if subscription_mode is not None
            else self.target.mode
        )
        self.channels = ShardedChannels(channel)
        self._listener: ShardListener | None = None
        self._routes: dict[str, NamespaceName] = {}  # channel -> its namespace
        self._room_channels: dict[tuple[NamespaceName, Room], str] = {}

    # -- what we listen on -----------------------------------------------------------------

    def _want(self, channel: str, nsp: NamespaceName) -> None:
        self._routes[channel] = nsp
        if self._listener is not None:
            self._listener.want(channel)

    def _watched_changed(self, namespace: NamespaceName) -> None:
        self._want(self.channels.main(namespace), namespace)
        self._want(self.channels.response(namespace, self.uid), namespace)

    def add(self, socket: Socket, room: Room) -> None:
        """Put ``socket`` in ``room``; a new room gets its channel in the dynamic modes."""
        nsp = socket.nsp.name
        rooms = self._namespaces.get(nsp)
        new = rooms is None or room not in rooms.rooms
        super().add(socket, room)
        if new and self.mode is not SubscriptionMode.STATIC:
            private = room == socket.sid
            if self.mode is SubscriptionMode.DYNAMIC_PRIVATE or not private:
                channel = self.channels.room(nsp, room)
                self._room_channels[(nsp, room)] = channel
                self._want(channel, nsp)

    def remove(self, socket: Socket, room: Room) -> None:
        """Take ``socket`` out of ``room``; a room gone loses its channel."""
        super().remove(socket, room)
        self._forget_room(socket.nsp.name, room)

    def remove_all(self, socket: Socket) -> None:
        """Take ``socket`` out of every room; the rooms gone lose their channels."""
        nsp = socket.nsp.name
        rooms = self.rooms(nsp, socket.sid) if self._room_channels else []
        super().remove_all(socket)
        for room in rooms:
            self._forget_room(nsp, room)

    def _forget_room(self, nsp: NamespaceName, room: Room) -> None:
        channel = self._room_channels.get((nsp, room))
        if channel is None:
            return
        rooms = self._namespaces.get(nsp)
        if rooms is not None and room in rooms.rooms:
            return
        del self._room_channels[(nsp, room)]
        self._routes.pop(channel, None)
        if self._listener is not None:
            self._listener.unwant(channel)

    def _new_listener(self) -> ShardListener:
        assert self._redis is not None
        listener = ShardListener(self._redis, self._on_raw)
        for channel in self._routes:
            listener.want(channel)
        return listener

    async def _listen(self) -> None:
        for namespace in self._watched:
            self._watched_changed(namespace)
        self._listener = self._new_listener()

    async def _stop_listening(self) -> None:
        self._listener = None

    async def _read(self) -> None:
        from redis.exceptions import AskError, MovedError

        delays = backoff()
        link = self._link
        moved: tuple[type[BaseException], ...] = (SlotMoved, MovedError, AskError)
        errors: tuple[type[BaseException], ...] = (*redis_errors(), SlotMoved, BrokerGone)
        while not link.closing:
            listener = self._listener
            if listener is None:
                listener = self._listener = self._new_listener()
            running = asyncio.get_running_loop().create_task(listener.run())
            try:
                # Up once every channel is subscribed on the node that owns it.
                await _first_of(running, listener.ready.wait())
                link.recovered()
                delays = backoff()
                # Until the listener fails, or the writer finds the broker gone while
                # the idle subscriptions noticed nothing (then subscribe anew).
                await _first_of(running, link.went_down())
                if not running.done():
                    raise BrokerGone("the writer lost the broker")
            except asyncio.CancelledError:
                running.cancel()
                with quietly():
                    await running  # its connections closed before the adapter's client
                raise
            except errors as exc:
                running.cancel()
                with quietly():
                    await running
                if link.closing:
                    return
                if isinstance(exc, moved):
                    # A resharding or a failover, not an outage: follow the slot.
                    logger.info("the Redis Cluster moved a channel of %s (%s): subscribing "
                                "on its new node", self.target.shown, exc)  # fmt: skip
                elif not isinstance(exc, BrokerGone):
                    link.lost(f"{type(exc).__name__}: {exc}")
                self._listener = None
                await self._refresh_topology()
                await asyncio.sleep(next(delays))

    async def _refresh_topology(self) -> None:
        """Ask a cluster again which node owns which slot (after a failure or a move)."""
        from redis.asyncio import RedisCluster

        client = self._redis
        if isinstance(client, RedisCluster):
            with quietly():
                await client.nodes_manager.initialize()

    def _on_raw(self, channel: str, payload: bytes) -> None:
        nsp = self._routes.get(channel)
        if nsp is None:
            return
        try:
            message = decode_sharded(payload)
        except Exception:
            logger.warning("ignoring a malformed message on the Redis channel %s", channel,
                           exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip
            return
        if message is None or message.nsp != nsp:
            return
        self.on_message(message)

    # -- ClusterAdapter: the transport -----------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Queue ``message`` for the writer, to its channel (see :func:`sharded_channel_of`)."""
        channel = sharded_channel_of(self.channels, self.mode, message)
        self._link.enqueue((channel, encode_sharded(message)))

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Queue a response for the writer, to the requester's own channel."""
        channel = self.channels.response(message.nsp, requester)
        self._link.enqueue((channel, encode_sharded(message)))

    async def peer_count(self, namespace: NamespaceName) -> int:
        """``PUBSUB SHARDNUMSUB`` of the namespace's channel, minus this server."""
        count = await self._count_subscribers("SHARDNUMSUB", self.channels.main(namespace))
        listener = self._listener
        listening = listener is not None and listener.subscribed(self.channels.main(namespace))
        return max(0, count - (1 if listening else 0))


class BrokerGone(Exception):
    """The writer lost the broker: the listener starts over."""


async def _first_of(task: asyncio.Task[None], other: Coroutine[Any, Any, Any]) -> None:
    """Wait for ``other``, or for ``task`` to end first (its error is raised)."""
    waiting = asyncio.ensure_future(other)
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if task.done():
        task.result()
