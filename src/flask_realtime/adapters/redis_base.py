"""What the two Redis adapters share: the URL, the client, the lifecycle, the writer.

:class:`RedisAdapterBase` is a cluster adapter that publishes through Redis: classic
pub/sub (:class:`~flask_realtime.adapters.redis.RedisAdapter`) or sharded pub/sub
(:class:`~flask_realtime.adapters.redis_sharded.ShardedRedisAdapter`), on one Redis or
a Redis Cluster (:mod:`~flask_realtime.adapters.redis_connect` reads the URL).

Lifecycle: :meth:`~RedisAdapterBase.open` (when the server starts, on its loop)
connects, checks the broker, and fails with
:class:`~flask_realtime.exceptions.BrokerUnavailableError` naming the URL (no password)
when it cannot reach it; then it starts two tasks, so the adapter's operations never
block the loop:

- the **reader** (the subclass's) listens, and reconnects with back-off when the
  connection breaks (:class:`~flask_realtime.adapters.broker_link.BrokerLink` logs the
  outage and the recovery);
- the **writer** publishes what the operations queued, in order, pipelined, from a
  bounded queue: while Redis is unreachable what cannot be published is dropped and
  counted, never buffered without bound.

:meth:`~RedisAdapterBase.close` publishes what is queued (briefly) and disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.broker_link import BrokerLink
from flask_realtime.adapters.io_tasks import wind_down
from flask_realtime.adapters.redis_connect import (
    async_client,
    check_setup,
    parse_redis_url,
    ping,
    redis_errors,
)
from flask_realtime.adapters.redis_wire import DEFAULT_CHANNEL
from flask_realtime.server.cluster_adapter import ClusterAdapter
from flask_realtime.typing import NamespaceName

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["RedisAdapterBase"]

_BATCH = 512


class RedisAdapterBase(ClusterAdapter):
    """A cluster adapter on Redis (see the module docstring).

    Args:
        url: a Redis ``message_queue`` URL (see :mod:`~flask_realtime.adapters.redis_connect`).
        channel: the key prefix of every channel (Flask-SocketIO's ``channel`` option).
        requests_timeout: seconds a request waits for the other servers.
        max_queue: messages waiting to be published, at most; past it they are dropped.
        redis_options: more keyword arguments for redis-py's client.

    Raises:
        ConfigurationError: redis-py (``pip install flask-realtime[redis]``) or msgpack
            is missing, ``channel`` is empty, or the URL is not valid.
    """

    uses_heartbeat = False
    publish_command = "PUBLISH"

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        requests_timeout: float = 5.0,
        max_queue: int = 10_000,
        redis_options: dict[str, Any] | None = None,
    ) -> None:
        check_setup("redis", channel)
        super().__init__(requests_timeout=requests_timeout)
        self.url = url
        self.target = parse_redis_url(url)
        self._link: BrokerLink[tuple[str, bytes]] = BrokerLink(url, max_queue)
        self._redis_options = dict(redis_options or {})
        self._redis: Redis | RedisCluster | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._watched: dict[NamespaceName, None] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the broker, start listening, and start the reader and the writer.

        Raises:
            BrokerUnavailableError: Redis does not answer at the URL.
            ConfigurationError: sharded pub/sub on a Redis that has none.
        """
        client = async_client(self.target, self._redis_options)
        await ping(client, self.target)
        self._redis = client
        self._link.start()
        self._watched.setdefault("/", None)
        try:
            await self._listen()
        except redis_errors():
            pass  # the reader reconnects (and says so)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(), name="flask-realtime-redis-reader"),
            loop.create_task(self._write(), name="flask-realtime-redis-writer"),
        ]
        await super().open()

    async def close(self) -> None:
        """Publish what is queued (briefly), stop listening, and disconnect."""
        await super().close()
        link = self._link
        link.closing = True
        await wind_down(link.queue, self._tasks, redis_errors(), flush=not link.down)
        self._tasks = []
        await self._stop_listening()
        if self._redis is not None:
            with contextlib.suppress(*redis_errors()):
                await self._redis.aclose()
            self._redis = None

    @abstractmethod
    async def _listen(self) -> None:
        """Subscribe to the channels of every watched namespace (when the adapter opens)."""

    @abstractmethod
    async def _read(self) -> None:
        """Listen until cancelled, reconnecting with back-off."""

    @abstractmethod
    async def _stop_listening(self) -> None:
        """Unsubscribe and drop the listening connections."""

    def watch(self, namespace: NamespaceName) -> None:
        """Listen to ``namespace``'s channels from now on."""
        if namespace not in self._watched:
            self._watched[namespace] = None
            self._watched_changed(namespace)

    def _watched_changed(self, namespace: NamespaceName) -> None:
        """A namespace was added to :attr:`_watched` (the reader subscribes to it)."""

    # -- the writer ------------------------------------------------------------------------

    async def _write(self) -> None:
        link = self._link
        queue = link.queue
        if queue is None:
            return
        errors = redis_errors()
        command = self.publish_command
        while True:
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            link.took()
            client = self._redis
            if client is None:
                return
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for channel, payload in batch:
                        pipe.execute_command(command, channel, payload)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except errors as exc:
                link.drop(len(batch))
                link.lost(f"{type(exc).__name__}: {exc}")

    # -- counting the others ---------------------------------------------------------------

    async def _count_subscribers(self, command: str, channel: str) -> int:
        """``PUBSUB NUMSUB``/``SHARDNUMSUB`` of ``channel``, summed over a cluster's nodes;
        0 when Redis does not answer (a request then waits for nobody)."""
        client = self._redis
        if client is None:
            return 0
        options: dict[str, Any] = {"target_nodes": "all"} if self.target.cluster else {}
        try:
            answer = await client.execute_command(f"PUBSUB {command}", channel, **options)
        except redis_errors():
            return 0
        # [(channel, count)], the counts of a cluster's nodes summed by redis-py
        return sum(int(count) for _, count in answer or ())
