"""Listening on sharded pub/sub channels (``SSUBSCRIBE``), on one Redis or a Redis Cluster.

A sharded channel lives on the node that owns its hash slot, so a listener needs one
connection per node that owns any of its channels. :class:`ShardListener` keeps the
channels wanted, one pub/sub connection per owning node and one loop per connection:
each loop applies its node's subscription changes and waits for messages, so the
connection is only ever used by one task (redis-py's pub/sub is not for concurrent use).

Any error, or Redis taking a channel back (``SUNSUBSCRIBE`` that we did not ask for: its
slot moved to another node), ends :meth:`ShardListener.run` with an exception: the
adapter then reconnects with back-off and builds a new listener, which asks the cluster
where each channel lives now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.io_tasks import quietly

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster
    from redis.asyncio.client import PubSub

__all__ = ["ShardListener", "SlotMoved"]

_POLL = 0.05  # seconds a loop waits for a message before it looks at its subscriptions

OnMessage = Callable[[str, bytes], None]


class SlotMoved(Exception):
    """Redis unsubscribed us from a channel: its slot moved to another node."""


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class _Node:
    """One node's connection: the channels it should carry, and its loop's task."""

    __slots__ = ("client", "pubsub", "subscribed", "task", "wanted")

    def __init__(self, client: Redis, pubsub: PubSub) -> None:
        self.client = client
        self.pubsub = pubsub
        self.wanted: set[str] = set()
        self.subscribed: set[str] = set()
        self.task: asyncio.Task[None] | None = None


class ShardListener:
    """The sharded channels one adapter listens on (see the module docstring).

    Args:
        client: the adapter's client (one Redis, or a cluster).
        on_message: receives ``(channel, payload)`` of every message, on the loop.
    """

    def __init__(self, client: Redis | RedisCluster, on_message: OnMessage) -> None:
        self._client = client
        self._on_message = on_message
        self._wanted: set[str] = set()
        self._nodes: dict[str, _Node] = {}
        self._changed = asyncio.Event()
        self.ready = asyncio.Event()
        """Set once every wanted channel has been subscribed on its node."""

    def want(self, channel: str) -> None:
        """Listen on ``channel`` from now on (subscribed by the loops, soon)."""
        if channel not in self._wanted:
            self._wanted.add(channel)
            self._changed.set()

    def unwant(self, channel: str) -> None:
        """Stop listening on ``channel``."""
        if channel in self._wanted:
            self._wanted.discard(channel)
            self._changed.set()

    def subscribed(self, channel: str) -> bool:
        """Whether Redis was asked to send us ``channel``'s messages."""
        return any(channel in node.subscribed for node in self._nodes.values())

    async def run(self) -> None:
        """Listen until cancelled or until an error (raised: the caller reconnects)."""
        try:
            while True:
                self._changed.clear()
                self._assign()
                tasks = [node.task for node in self._nodes.values() if node.task is not None]
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    done, _ = await asyncio.wait(
                        [*tasks, changed], return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    changed.cancel()
                for task in done:
                    if task is not changed:
                        task.result()  # a loop ends only by raising
        finally:
            await self._close()

    def _assign(self) -> None:
        """Give each wanted channel to its node's loop, starting loops for new nodes."""
        by_node: dict[str, set[str]] = {name: set() for name in self._nodes}
        for channel in self._wanted:
            name, make = self._owner(channel)
            node = self._nodes.get(name)
            if node is None:
                client = make()
                node = self._nodes[name] = _Node(client, client.pubsub())
                node.task = asyncio.get_running_loop().create_task(
                    self._loop(node), name=f"flask-realtime-redis-shard-{name}"
                )
            by_node.setdefault(name, set()).add(channel)
        for name, channels in by_node.items():
            self._nodes[name].wanted = channels

    def _owner(self, channel: str) -> tuple[str, Callable[[], Redis]]:
        """The name of the node that owns ``channel``, and how to connect to it."""
        from redis.asyncio import Redis, RedisCluster
        from redis.asyncio.connection import ConnectionPool

        client = self._client
        if not isinstance(client, RedisCluster):
            return "redis", lambda: client
        node = client.get_node_from_key(channel)
        if node is None:
            raise SlotMoved(f"no node of the cluster owns the channel {channel!r}")

        def make() -> Redis:
            kwargs = dict(node.connection_kwargs)
            pool = ConnectionPool(connection_class=node.connection_class, **kwargs)
            return Redis(connection_pool=pool)

        return node.name, make

    async def _loop(self, node: _Node) -> None:
        pubsub = node.pubsub
        dropping: set[str] = set()
        while True:
            for channel in node.wanted - node.subscribed:
                await pubsub.ssubscribe(channel)  # one per command: one slot per command
                node.subscribed.add(channel)
            for channel in node.subscribed - node.wanted:
                dropping.add(channel)
                node.subscribed.discard(channel)
                await pubsub.sunsubscribe(channel)
            if not self.ready.is_set() and all(
                n.wanted <= n.subscribed for n in self._nodes.values()
            ):
                self.ready.set()
            message = await pubsub.get_message(timeout=_POLL)
            if message is None:
                continue
            kind = _text(message.get("type"))
            if kind == "smessage":
                payload = message.get("data")
                if isinstance(payload, bytes | bytearray):
                    self._on_message(_text(message.get("channel")), bytes(payload))
            elif kind == "sunsubscribe":
                channel = _text(message.get("channel"))
                if channel in dropping:
                    dropping.discard(channel)
                elif channel in node.subscribed:
                    raise SlotMoved(f"Redis moved the channel {channel!r} to another node")

    async def _close(self) -> None:
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            if node.task is not None:
                node.task.cancel()
        for node in nodes:
            if node.task is not None:
                with quietly():
                    await node.task
            with quietly():
                await node.pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            if node.client is not self._client:
                with quietly():
                    await node.client.aclose()
