"""The Redis Streams adapter: a cluster whose sessions survive the server that held them.

``SocketIO(app, message_queue="redis+streams://host:6379/0",
connection_state_recovery=True)`` (also ``rediss+streams://``) makes each server's adapter
a :class:`RedisStreamsAdapter`, wire-compatible with Node's
``@socket.io/redis-streams-adapter``: the servers write every cluster message to one Redis
stream (named by the ``channel`` option; Node's default is ``"socket.io"``) and each reads
all of it (:mod:`~flask_realtime.adapters.redis_streams_wire`). The other servers are
counted by heartbeats, as in Node.

Connection state recovery across servers: the id of a broadcast's stream entry is its
offset, appended to the event for the clients (so this server delivers its own broadcasts
once Redis has stored them, in the order they were emitted); a socket that leaves for a
reason that may be temporary is stored in Redis (``SET <prefix><pid>`` with an expiry of
``max_disconnection_duration``); a client that comes back to any server of the cluster,
also after the one it was on was killed, is restored from there, its missed events read
back from the stream (``XRANGE`` after its offset). Bounded: the stream keeps about
``max_len`` entries (Node's ``maxLen``, ``XADD MAXLEN ~``); a client whose offset was
trimmed away gets a new session. Emits with an acknowledgement and volatile ones are
neither logged nor delayed.

Two tasks do the I/O: the **reader** (``XREAD BLOCK``) applies what the others wrote, and
the **writer** runs the queued commands in order, pipelined. The queue and the
up/down state are a :class:`~flask_realtime.adapters.broker_link.BrokerLink`, as in the
other adapters: while Redis is unreachable the writer drops what it cannot write (counted;
one line when it goes, one when it is back, with the count), and the reader retries with
back-off (0.1 s doubling to 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.broker_link import BrokerLink, backoff
from flask_realtime.adapters.io_tasks import wind_down
from flask_realtime.adapters.redis_connect import check_setup, client_settings, redis_errors
from flask_realtime.adapters.redis_streams_sessions import StreamSessions
from flask_realtime.adapters.redis_streams_wire import (
    decode_entry,
    encode_entry,
    logged_event,
    text,
)
from flask_realtime.adapters.urls import redact_url
from flask_realtime.exceptions import BrokerUnavailableError, ConfigurationError
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.server.cluster_adapter import (
    ClusterAdapter,
    ClusterMessage,
    MessageType,
    decode_options,
    encode_options,
    encode_packet,
)
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.server.socket import Socket
from flask_realtime.typing import NamespaceName, Room

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from flask_realtime.deadlines import Deadlines
    from flask_realtime.server.recovery import RecoveryOptions, SessionBackend

__all__ = ["RedisStreamsAdapter", "from_url"]

logger = logging.getLogger(__name__)

_BATCH = 512
_BLOCK_MS = 1000

Command = tuple[str, tuple[Any, ...]]
"""What the writer runs: ``("xadd", (fields,))``, ``("set", (key, value, seconds))``,
``("del", (key,))``."""


def from_url(url: str, *, channel: str = "socket.io", **options: Any) -> RedisStreamsAdapter:
    """The adapter for ``message_queue="redis+streams://..."`` (``binding/adapters.py``)."""
    return RedisStreamsAdapter(url, channel=channel, **options)


class RedisStreamsAdapter(ClusterAdapter):
    """A cluster adapter on one Redis stream (see the module docstring).

    Args:
        url: ``redis+streams://[:password@]host[:port][/db]`` or ``rediss+streams://...``
            (a plain ``redis://`` URL is accepted too).
        channel: the stream's name.
        max_len: about how many entries the stream keeps (``XADD MAXLEN ~``).
        read_count: entries read per ``XREAD``.
        session_prefix: the key prefix of stored sessions (Node's ``sessionKeyPrefix``).
        requests_timeout: seconds a request waits for the other servers.
        max_queue: commands waiting to be written, at most; past it they are dropped.
        redis_options: more keyword arguments for ``redis.asyncio.Redis.from_url``.

    Raises:
        ConfigurationError: redis-py or msgpack is missing, or a bad setting.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "socket.io",
        max_len: int = 10_000,
        read_count: int = 100,
        session_prefix: str = "sio:session:",
        requests_timeout: float = 5.0,
        max_queue: int = 10_000,
        redis_options: dict[str, Any] | None = None,
    ) -> None:
        check_setup("redis+streams", channel)
        if type(max_len) is not int or max_len < 1:
            raise ConfigurationError(f"max_len must be a positive int, not {max_len!r}")
        super().__init__(requests_timeout=requests_timeout)
        scheme, sep, rest = url.partition("://")
        self.url = scheme.replace("+streams", "") + sep + rest
        self.stream = channel
        self.max_len = max_len
        self.read_count = read_count
        self.session_prefix = session_prefix
        self.recovery: RecoveryOptions | None = None
        self._redis_options = dict(redis_options or {})
        self._redis: Redis | None = None
        self._link: BrokerLink[Command] = BrokerLink(self.url, max_queue)
        self._tasks: list[asyncio.Task[None]] = []
        self._offset = "$"
        self.sessions: StreamSessions | None = None
        self.applying = asyncio.Lock()
        """Held by the reader while it applies entries (a restore reads up to it)."""

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the broker, start reading where the stream ends now.

        Raises:
            BrokerUnavailableError: Redis does not answer at the URL.
        """
        from redis.asyncio import Redis

        self._link.closing = False
        try:
            client = Redis.from_url(self.url, **client_settings(self._redis_options))
        except ValueError as exc:
            raise ConfigurationError(f"message_queue {redact_url(self.url)!r}: {exc}") from None
        try:
            await client.ping()
            last = await client.xrevrange(self.stream, "+", "-", count=1)
        except redis_errors() as exc:
            await client.aclose()
            raise BrokerUnavailableError(
                f"cannot reach the message queue at {redact_url(self.url)}: {exc}"
            ) from None
        self._offset = text(last[0][0]) if last else "0-0"
        self._redis = client
        self._link.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(), name="flask-realtime-redis-streams-reader"),
            loop.create_task(self._write(), name="flask-realtime-redis-streams-writer"),
        ]
        await super().open()
        if self.sessions is not None:
            self.sessions.start()

    async def close(self) -> None:
        """Write what is queued (briefly), then stop and disconnect."""
        if self.sessions is not None:
            self.sessions.stop()
        await super().close()
        link = self._link
        link.closing = True
        await wind_down(link.queue, self._tasks, redis_errors(), flush=not link.down)
        self._tasks = []
        if self._redis is not None:
            with contextlib.suppress(*redis_errors()):
                await self._redis.aclose()
            self._redis = None

    # -- the transport -----------------------------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Queue ``message`` as a stream entry."""
        self.enqueue(("xadd", (encode_entry(message),)))

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Responses go to the stream too (every server reads it; the requester keeps it)."""
        self.publish(message)

    def enqueue(self, command: Command) -> None:
        """Queue a command for the writer (dropped, and counted, past ``max_queue``)."""
        self._link.enqueue(command)

    # -- broadcasts: delivered here once the stream gave them their offset --------------------

    def _logged(self, packet: Packet, opts: BroadcastOptions) -> bool:
        """Whether a broadcast gets an offset (Node's ``addOffsetIfNecessary``)."""
        return (
            self.recovery is not None
            and packet.type is PacketType.EVENT
            and packet.id is None
            and not opts.volatile
        )

    def broadcast(self, namespace: NamespaceName, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish the broadcast; a logged one reaches this server's sockets when the
        reader reads it back from the stream, with the entry's id as its last argument
        (so every server delivers logged events in the stream's order); others at once."""
        if opts.local or not self._logged(packet, opts):
            super().broadcast(namespace, packet, opts)
            return
        self.publish(
            ClusterMessage(
                MessageType.BROADCAST,
                self.uid,
                namespace,
                {"packet": encode_packet(packet), "opts": encode_options(opts)},
            )
        )

    # -- the reader ------------------------------------------------------------------------

    async def _read(self) -> None:
        link = self._link
        delays = backoff()
        errors = redis_errors()
        while not link.closing:
            client = self._redis
            if client is None:
                return
            try:
                answer: Any = await client.xread(
                    {self.stream: self._offset}, count=self.read_count, block=_BLOCK_MS
                )
                link.recovered()
                delays = backoff()
            except asyncio.CancelledError:
                raise
            except errors as exc:
                if link.closing:
                    return
                link.lost(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(next(delays))
                continue
            async with self.applying:  # a restore reads the stream up to _offset
                for _stream, entries in answer or ():
                    for entry_id, fields in entries:
                        offset = text(entry_id)
                        self._offset = offset
                        self._apply(offset, fields)

    def _apply(self, offset: str, fields: dict[Any, Any]) -> None:
        message = decode_entry(fields)
        if message is None:
            logger.debug("ignoring a malformed entry %s of stream %s", offset, self.stream)
            return
        if message.type is MessageType.BROADCAST and self.recovery is not None:
            data = logged_event(message)
            if data is not None:
                data.append(offset)
                if message.uid == self.uid:
                    # Ours, read back: now it goes to this server's sockets.
                    packet = Packet(PacketType.EVENT, message.nsp, data)
                    opts = decode_options(message.data.get("opts"))
                    InMemoryAdapter.broadcast(self, message.nsp, packet, opts)
                    return
        if message.uid != self.uid:
            self.on_message(message)

    # -- the writer ------------------------------------------------------------------------

    async def _write(self) -> None:
        link = self._link
        queue = link.queue
        if queue is None:
            return
        errors = redis_errors()
        while not (link.closing and queue.empty()):
            # (redis-py may swallow the cancellation of close(): the flag ends the loop.)
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            link.took()
            client = self._redis
            if client is None:
                return
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for kind, args in batch:
                        if kind == "xadd":
                            pipe.xadd(self.stream, args[0], maxlen=self.max_len,
                                      approximate=True)  # fmt: skip
                        elif kind == "set":
                            pipe.set(args[0], args[1], ex=args[2])
                        else:  # "del"
                            pipe.delete(args[0])
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except errors as exc:
                if link.closing:
                    return
                link.drop(len(batch))
                link.lost(f"{type(exc).__name__}: {exc}")

    # -- connection state recovery -----------------------------------------------------------

    def recovery_backend(
        self, options: RecoveryOptions, deadlines: Deadlines, clock: Callable[[], float]
    ) -> SessionBackend:
        """Sessions in Redis, events in the stream (see the module docstring)."""
        self.recovery = options
        self.sessions = StreamSessions(self, options)
        return self.sessions

    # Beyond Node: the sessions of live sockets are stored too (when they join, when they
    # leave a room, and every heartbeat interval: redis_streams_sessions.py).

    def add(self, socket: Socket, room: Room) -> None:
        """Put ``socket`` in ``room``, and store its session again."""
        super().add(socket, room)
        if self.sessions is not None:
            self.sessions.touch(socket)

    def remove(self, socket: Socket, room: Room) -> None:
        """Take ``socket`` out of ``room``, and store its session again."""
        super().remove(socket, room)
        if self.sessions is not None:
            self.sessions.touch(socket)

    def local_sockets_everywhere(self) -> list[Socket]:
        """Every socket of this server, in every namespace."""
        return [socket for nsp in list(self._namespaces.values())
                for socket in nsp.members.values()]  # fmt: skip

    @property
    def redis(self) -> Redis | None:
        """The client, while open."""
        return self._redis

    @property
    def read_offset(self) -> str:
        """The id of the last entry the reader applied."""
        return self._offset
