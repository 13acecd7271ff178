"""The Redis adapter: several server processes share their clients through Redis pub/sub.

``SocketIO(app, message_queue="redis://host:6379/0")`` (also ``rediss://`` and
``unix://``) makes each server's adapter a :class:`RedisAdapter`. It speaks the wire format
of Node's ``@socket.io/redis-adapter`` (:mod:`flask_realtime.adapters.redis_wire`), so the
servers of a cluster may be flask-realtime processes, Node servers with that adapter, and
write-only emitters (ours, :mod:`flask_realtime.emitter`, or Node's
``@socket.io/redis-emitter``), as long as they use the same ``channel`` (the key prefix;
``"flask-socketio"`` by default, Flask-SocketIO's; Node's default is ``"socket.io"``).

Lifecycle: :meth:`open` (when the server starts, on its loop) connects, checks the broker
with a PING, and fails with :class:`~flask_realtime.exceptions.BrokerUnavailableError`
naming the URL when it cannot reach it; it then subscribes to the channels of "/" and of
every namespace that gets sockets (or server-side event handlers). :meth:`close` leaves.

Two tasks do the I/O, so the adapter's operations never block the loop:

- the **reader** waits for messages and applies them (``on_message``). When the
  connection breaks it logs one warning (what cannot reach the other servers), reconnects
  with exponential back-off (0.1 s doubling to 5 s) and subscribes again, then logs one
  line saying the cluster is reachable again and how many messages were dropped.
- the **writer** publishes what the operations queued, in order, pipelined. The queue is
  bounded (``max_queue``); while Redis is unreachable what cannot be published is dropped
  and counted, never buffered without bound. This server's own clients are served
  throughout: local delivery never waits for Redis.

Counting the other servers of a namespace (for requests that wait for answers) is
``PUBSUB NUMSUB`` of its request channel minus one, as Node does; there is no heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.io_tasks import wind_down
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
from flask_realtime.adapters.urls import redact_url
from flask_realtime.exceptions import BrokerUnavailableError, ConfigurationError
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.server.cluster_adapter import ClusterAdapter, ClusterMessage
from flask_realtime.typing import NamespaceName

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["RedisAdapter", "from_url"]

logger = logging.getLogger(__name__)

_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_BATCH = 512


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


def from_url(url: str, *, channel: str = DEFAULT_CHANNEL, **options: Any) -> RedisAdapter:
    """The adapter for ``message_queue=url`` (``binding/adapters.py`` calls this)."""
    return RedisAdapter(url, channel=channel, **options)


class RedisAdapter(ClusterAdapter):
    """A cluster adapter on Redis pub/sub (see the module docstring).

    Args:
        url: ``redis://[:password@]host[:port][/db]``, ``rediss://...`` or
            ``unix:///path/to/socket``.
        channel: the key prefix of every channel (Flask-SocketIO's ``channel`` option).
        requests_timeout: seconds a request waits for the other servers.
        max_queue: messages waiting to be published, at most; past it they are dropped.
        redis_options: more keyword arguments for ``redis.asyncio.Redis.from_url``.

    Raises:
        ConfigurationError: redis-py (``pip install flask-realtime[redis]``) or msgpack
            is missing.
    """

    uses_heartbeat = False

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        requests_timeout: float = 5.0,
        max_queue: int = 10_000,
        redis_options: dict[str, Any] | None = None,
    ) -> None:
        try:
            import msgpack  # noqa: F401
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "message_queue='redis://...' needs redis-py and msgpack: "
                "pip install 'flask-realtime[redis]'"
            ) from None
        if not isinstance(channel, str) or not channel:
            raise ConfigurationError(f"channel must be a non-empty string, not {channel!r}")
        super().__init__(requests_timeout=requests_timeout)
        self.url = url
        self.channels = Channels(channel)
        self.max_queue = max_queue
        self._redis_options = dict(redis_options or {})
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._queue: asyncio.Queue[tuple[str, bytes]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._watched: dict[NamespaceName, None] = {}
        self._subscribed: set[NamespaceName] = set()
        self._routes: dict[str, tuple[str, NamespaceName]] = {}  # channel/pattern -> kind, nsp
        self._closing = False
        self._down = False
        self._dropped = 0
        self._overflowing = False
        self._anonymous = itertools.count()
        self._wake: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def _client(self) -> Redis:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # One immediate retry: a pooled connection that a restarted Redis closed fails once;
        # a Redis that is down fails twice at once (connection refused), and the reader's
        # back-off takes over.
        options: dict[str, Any] = {"socket_connect_timeout": 5.0, "retry": Retry(NoBackoff(), 1)}
        options.update(self._redis_options)
        try:
            return Redis.from_url(self.url, **options)
        except ValueError as exc:
            raise ConfigurationError(f"message_queue {redact_url(self.url)!r}: {exc}") from None

    async def open(self) -> None:
        """Connect, check the broker, subscribe, and start the reader and the writer.

        Raises:
            BrokerUnavailableError: Redis does not answer at the URL.
        """
        self._closing = False
        client = self._client()
        try:
            await client.ping()
        except _redis_errors() as exc:
            await client.aclose()
            raise BrokerUnavailableError(
                f"cannot reach the message queue at {redact_url(self.url)}: {exc}"
            ) from None
        self._redis = client
        self._queue = asyncio.Queue(self.max_queue)
        self._wake = asyncio.Event()
        self._watched.setdefault("/", None)
        self._pubsub = await self._subscribe_all()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(), name="flask-realtime-redis-reader"),
            loop.create_task(self._write(), name="flask-realtime-redis-writer"),
        ]
        await super().open()

    async def close(self) -> None:
        """Publish what is queued (briefly), unsubscribe, and disconnect."""
        await super().close()
        self._closing = True
        await wind_down(self._queue, self._tasks, _redis_errors(), flush=not self._down)
        self._tasks = []
        await self._drop_pubsub()
        if self._redis is not None:
            with contextlib.suppress(*_redis_errors()):
                await self._redis.aclose()
            self._redis = None

    # -- ClusterAdapter: the transport ---------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Queue ``message`` for the writer, in Node's Redis wire format."""
        encoded = encode_message(self.channels, message)
        if encoded is not None:
            self._enqueue(encoded)

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Queue a response for the writer, to the requester's own channel."""
        encoded = encode_response(self.channels, requester, message)
        if encoded is not None:
            self._enqueue(encoded)

    def _enqueue(self, item: tuple[str, bytes]) -> None:
        queue = self._queue
        if queue is None or self._closing:
            return
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "more than %d messages wait to be published to %s: dropping (they do "
                    "not reach the other servers)",
                    self.max_queue,
                    redact_url(self.url),
                )

    def watch(self, namespace: NamespaceName) -> None:
        """Listen to ``namespace``'s channels from now on (subscribed by the reader)."""
        if namespace not in self._watched:
            self._watched[namespace] = None
            if self._wake is not None:
                self._wake.set()

    async def peer_count(self, namespace: NamespaceName) -> int:
        """``PUBSUB NUMSUB`` of the namespace's request channel, minus this server."""
        client = self._redis
        if client is None:
            return 0
        try:
            answer = await client.pubsub_numsub(self.channels.request(namespace))
        except _redis_errors():
            return 0
        count = int(answer[0][1]) if answer else 0
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
            with contextlib.suppress(*_redis_errors()):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
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
            with contextlib.suppress(*_redis_errors()):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self) -> None:
        delay = _BACKOFF_FIRST
        errors = _redis_errors()
        wake = self._wake
        while not self._closing:
            try:
                pubsub = self._pubsub
                if pubsub is None:
                    pubsub = self._pubsub = await self._subscribe_all()
                    self._recovered()
                    delay = _BACKOFF_FIRST
                new = [nsp for nsp in self._watched if nsp not in self._subscribed]
                if new:
                    await self._subscribe(pubsub, new)
                if wake is not None:
                    wake.clear()
                message = await pubsub.get_message(timeout=0.05)
                if message is not None:
                    self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except errors as exc:
                if self._closing:
                    return
                self._lost(f"{type(exc).__name__}: {exc}")
                await self._drop_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)

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
            self._enqueue((self.channels.response(nsp, uid), dumps_json(answer)))
            return
        message = decode_request(nsp, body)
        if message is not None:
            self.on_message(message)

    # -- the writer ------------------------------------------------------------------------

    async def _write(self) -> None:
        queue = self._queue
        if queue is None:
            return
        errors = _redis_errors()
        while True:
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            if queue.empty():
                self._overflowing = False
            client = self._redis
            if client is None:
                return
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for channel, payload in batch:
                        pipe.publish(channel, payload)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except errors as exc:
                self._dropped += len(batch)
                self._lost(f"{type(exc).__name__}: {exc}")

    # -- connection state ------------------------------------------------------------------

    def _lost(self, why: str) -> None:
        if self._down or self._closing:
            return
        self._down = True
        logger.warning(
            "message queue %s unreachable (%s): until it is back, emits, room changes and "
            "requests of this server do not reach the other servers (this server's own "
            "clients are still served); reconnecting",
            redact_url(self.url),
            why,
        )

    def _recovered(self) -> None:
        if not self._down:
            return
        self._down = False
        dropped, self._dropped = self._dropped, 0
        logger.warning(
            "message queue %s reachable again; %d message(s) to the other servers were "
            "dropped meanwhile",
            redact_url(self.url),
            dropped,
        )


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
