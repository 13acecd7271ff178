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
the **writer** runs the queued commands in order, pipelined. While Redis is unreachable
the writer drops what it cannot write (counted, logged once) and the reader retries with
back-off (0.1 s doubling to 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.io_tasks import wind_down
from flask_realtime.adapters.redis_streams_wire import (
    decode_entry,
    decode_session,
    encode_entry,
    encode_session,
    is_offset,
    next_offset,
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
from flask_realtime.server.recovery import Restored, Session
from flask_realtime.server.socket import Socket, SocketState
from flask_realtime.typing import NamespaceName, Room

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from flask_realtime.deadlines import Deadline, Deadlines
    from flask_realtime.server.recovery import RecoveryOptions, SessionBackend

__all__ = ["RedisStreamsAdapter", "from_url"]

logger = logging.getLogger(__name__)

_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_BATCH = 512
_BLOCK_MS = 1000
_RESTORE_PAGES = 100  # XRANGE calls at most per restore (Node's limit)
_PAGE = 1000

Command = tuple[str, tuple[Any, ...]]
"""What the writer runs: ``("xadd", (fields,))``, ``("set", (key, value, seconds))``,
``("del", (key,))``."""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


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
        try:
            import msgpack  # noqa: F401
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "message_queue='redis+streams://...' needs redis-py and msgpack: "
                "pip install 'flask-realtime[redis]'"
            ) from None
        if not isinstance(channel, str) or not channel:
            raise ConfigurationError(f"channel must be a non-empty string, not {channel!r}")
        if type(max_len) is not int or max_len < 1:
            raise ConfigurationError(f"max_len must be a positive int, not {max_len!r}")
        super().__init__(requests_timeout=requests_timeout)
        scheme, sep, rest = url.partition("://")
        self.url = scheme.replace("+streams", "") + sep + rest
        self.stream = channel
        self.max_len = max_len
        self.read_count = read_count
        self.session_prefix = session_prefix
        self.max_queue = max_queue
        self.recovery: RecoveryOptions | None = None
        self._redis_options = dict(redis_options or {})
        self._redis: Redis | None = None
        self._queue: asyncio.Queue[Command] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._offset = "$"
        self._closing = False
        self._down = False
        self._dropped = 0
        self._dirty: dict[Socket, None] = {}  # sockets whose session to store this tick
        self._applying = asyncio.Lock()
        self._refresh: Deadline | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the broker, start reading where the stream ends now.

        Raises:
            BrokerUnavailableError: Redis does not answer at the URL.
        """
        from redis.asyncio import Redis

        self._closing = False
        options: dict[str, Any] = {"socket_connect_timeout": 5.0}
        options.update(self._redis_options)
        try:
            client = Redis.from_url(self.url, **options)
        except ValueError as exc:
            raise ConfigurationError(f"message_queue {redact_url(self.url)!r}: {exc}") from None
        try:
            await client.ping()
            last = await client.xrevrange(self.stream, "+", "-", count=1)
        except _redis_errors() as exc:
            await client.aclose()
            raise BrokerUnavailableError(
                f"cannot reach the message queue at {redact_url(self.url)}: {exc}"
            ) from None
        self._offset = _text(last[0][0]) if last else "0-0"
        self._redis = client
        self._queue = asyncio.Queue(self.max_queue)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(), name="flask-realtime-redis-streams-reader"),
            loop.create_task(self._write(), name="flask-realtime-redis-streams-writer"),
        ]
        await super().open()
        if self.recovery is not None:
            host = self.cluster_host
            self._refresh = host.deadlines.call_at(
                host.clock() + self.heartbeat_interval, self._refresh_all
            )

    async def close(self) -> None:
        """Write what is queued (briefly), then stop and disconnect."""
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        await super().close()
        self._closing = True
        await wind_down(self._queue, self._tasks, _redis_errors(), flush=not self._down)
        self._tasks = []
        if self._redis is not None:
            with contextlib.suppress(*_redis_errors()):
                await self._redis.aclose()
            self._redis = None

    # -- the transport -----------------------------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Queue ``message`` as a stream entry."""
        self._enqueue(("xadd", (encode_entry(message),)))

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Responses go to the stream too (every server reads it; the requester keeps it)."""
        self.publish(message)

    def _enqueue(self, command: Command) -> None:
        queue = self._queue
        if queue is None or self._closing:
            return
        try:
            queue.put_nowait(command)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1:
                logger.warning("more than %d commands wait for %s: dropping", self.max_queue,
                               redact_url(self.url))  # fmt: skip

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
        delay = _BACKOFF_FIRST
        errors = _redis_errors()
        while not self._closing:
            client = self._redis
            if client is None:
                return
            try:
                answer: Any = await client.xread(
                    {self.stream: self._offset}, count=self.read_count, block=_BLOCK_MS
                )
                if self._down:
                    self._recovered()
                delay = _BACKOFF_FIRST
            except asyncio.CancelledError:
                raise
            except errors as exc:
                if self._closing:
                    return
                self._lost(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            async with self._applying:  # a restore reads the stream up to _offset
                for _stream, entries in answer or ():
                    for entry_id, fields in entries:
                        offset = _text(entry_id)
                        self._offset = offset
                        self._apply(offset, fields)

    def _apply(self, offset: str, fields: dict[Any, Any]) -> None:
        message = decode_entry(fields)
        if message is None:
            logger.debug("ignoring a malformed entry %s of stream %s", offset, self.stream)
            return
        if message.type is MessageType.BROADCAST and self.recovery is not None:
            data = _logged_event(message)
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
        queue = self._queue
        if queue is None:
            return
        errors = _redis_errors()
        while not (self._closing and queue.empty()):
            # (redis-py may swallow the cancellation of close(): the flag ends the loop.)
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
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
                if self._closing:
                    return
                self._dropped += len(batch)
                self._lost(f"{type(exc).__name__}: {exc}")

    # -- connection state recovery -----------------------------------------------------------

    def recovery_backend(
        self, options: RecoveryOptions, deadlines: Deadlines, clock: Callable[[], float]
    ) -> SessionBackend:
        """Sessions in Redis, events in the stream (see the module docstring)."""
        self.recovery = options
        return _StreamSessions(self, options)

    def persist_session(self, session: Session, seconds: float) -> None:
        """Store ``session`` for ``seconds`` (``SET ... EX``), as Node's adapter does."""
        try:
            encoded = encode_session(session)
        except (ConfigurationError, RuntimeError) as exc:  # data that cannot be stored
            logger.warning("cannot store the session of %s: %s", session.sid, exc)
            return
        key = self.session_prefix + session.pid
        self._enqueue(("set", (key, encoded, max(1, int(seconds)))))

    def forget_session(self, pid: str) -> None:
        """Drop the stored session ``pid`` (its socket left for good)."""
        self._enqueue(("del", (self.session_prefix + pid,)))

    # Beyond Node: the sessions of live sockets are stored too (when they join, when they
    # leave a room, and every heartbeat interval), so that a client whose server crashed
    # recovers on another one, with its rooms and its data as of the last store.

    def add(self, socket: Socket, room: Room) -> None:
        """Put ``socket`` in ``room``, and store its session again."""
        super().add(socket, room)
        self._touch(socket)

    def remove(self, socket: Socket, room: Room) -> None:
        """Take ``socket`` out of ``room``, and store its session again."""
        super().remove(socket, room)
        self._touch(socket)

    def _touch(self, socket: Socket) -> None:
        if self.recovery is None or socket.pid is None or self._queue is None:
            return
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._store_dirty)
        self._dirty[socket] = None

    def _store_dirty(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for socket in dirty:
            self._store_live(socket)

    def _store_live(self, socket: Socket) -> None:
        recovery = self.recovery
        if recovery is None or socket.pid is None:
            return
        if socket.state is not SocketState.CONNECTED and socket.state is not SocketState.CONNECTING:
            return  # it left: its session was stored (or dropped) then
        host = self.cluster_host
        # Kept past the next refresh, so that it outlives a crash by the whole window.
        seconds = recovery.max_disconnection_duration + 2 * self.heartbeat_interval
        self.persist_session(socket.session(host.clock()), seconds)

    def _refresh_all(self, now: float) -> None:
        for nsp in list(self._namespaces.values()):
            for socket in list(nsp.members.values()):
                self._store_live(socket)
        if self._refresh is not None:
            self._refresh.set(now + self.heartbeat_interval)

    async def restore_session(
        self, namespace: NamespaceName, pid: str, offset: str, done: Callable[[Restored], None]
    ) -> None:
        """``done`` gets session ``pid`` (taken: a session is restored once) and the
        events of ``namespace`` after ``offset`` that it would have received, or None.

        Exactly once: the missed events are those up to where the reader is, read while
        the reader waits, and ``done`` (which puts the socket in its rooms) runs before it
        goes on; the later ones reach the socket live.
        """
        client = self._redis
        if client is None or not is_offset(offset):
            done(None)
            return
        key = self.session_prefix + pid
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.delete(key)
            pipe.xrange(self.stream, offset, offset)
            stored, _deleted, found = await pipe.execute()
        session = decode_session(stored, self.cluster_host.clock()) if stored else None
        if session is None or not found:
            done(None)  # expired, already taken, or the offset was trimmed away
            return
        # The client may know an entry this server has not read yet: let the reader pass it.
        for _ in range(200):
            if _id(self._offset) >= _id(offset):
                break
            await asyncio.sleep(0.01)
        async with self._applying:
            end = self._offset
            missed: list[list[Any]] = []
            start = next_offset(offset)
            for _page in range(_RESTORE_PAGES):
                if _id(start) > _id(end):
                    break
                entries: Any = await client.xrange(self.stream, start, end, count=_PAGE)
                for entry_id, fields in entries:
                    entry = _text(entry_id)
                    start = next_offset(entry)
                    message = decode_entry(fields)
                    if message is not None and message.nsp == namespace:
                        data = _missed(message, session.rooms)
                        if data is not None:
                            missed.append([*data, entry])
                if len(entries) < _PAGE:
                    break
            done((session, missed))

    # -- connection state --------------------------------------------------------------------

    def _lost(self, why: str) -> None:
        if self._down or self._closing:
            return
        self._down = True
        logger.warning("message queue %s unreachable (%s): reconnecting", redact_url(self.url),
                       why)  # fmt: skip

    def _recovered(self) -> None:
        self._down = False
        dropped, self._dropped = self._dropped, 0
        logger.warning("message queue %s reachable again; %d command(s) dropped meanwhile",
                       redact_url(self.url), dropped)  # fmt: skip


def _logged_event(message: ClusterMessage) -> list[Any] | None:
    """The event's data (``[event, *args]``, a copy) of a BROADCAST that is logged (an
    event without acknowledgement, not volatile); None for any other."""
    if message.type is not MessageType.BROADCAST:
        return None
    raw = message.data.get("packet")
    if not isinstance(raw, dict) or raw.get("type") != int(PacketType.EVENT):
        return None
    data = raw.get("data")
    if not isinstance(data, list) or raw.get("id") is not None:
        return None
    if decode_options(message.data.get("opts")).volatile:
        return None
    raw["data"] = data = list(data)
    return data


def _missed(message: ClusterMessage, rooms: tuple[Room, ...]) -> list[Any] | None:
    """The event of a logged BROADCAST entry, if a socket in ``rooms`` was a recipient."""
    data = _logged_event(message)
    if data is None:
        return None
    opts = decode_options(message.data.get("opts"))
    included = not opts.rooms or any(room in opts.rooms for room in rooms)
    if not included or any(room in opts.except_rooms for room in rooms):
        return None
    return data


def _id(offset: str) -> tuple[int, int]:
    """A stream entry id, comparable ("$" and malformed ones: the start)."""
    stamp, _, sequence = offset.partition("-")
    try:
        return int(stamp), int(sequence or 0)
    except ValueError:
        return 0, 0


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class _StreamSessions:
    """The :class:`~flask_realtime.server.recovery.SessionBackend` of the adapter."""

    def __init__(self, adapter: RedisStreamsAdapter, options: RecoveryOptions) -> None:
        self.adapter = adapter
        self.options = options
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def delivers(self) -> bool:
        """True: logged events reach sockets once the stream gave them their offset."""
        return True

    def record(
        self,
        namespace: NamespaceName,
        data: list[Any],
        rooms: frozenset[Room],
        except_rooms: frozenset[Room],
    ) -> None:
        """Nothing to do: the adapter's broadcast writes the event to the stream."""

    def persist(self, namespace: NamespaceName, session: Session) -> None:
        """Store the session in Redis."""
        self.adapter.persist_session(session, self.options.max_disconnection_duration)

    def forget(self, namespace: NamespaceName, pid: str) -> None:
        """Drop the stored session (the adapter stores those of live sockets too)."""
        self.adapter.forget_session(pid)

    def restore(
        self, namespace: NamespaceName, pid: str, offset: str, done: Callable[[Restored], None]
    ) -> None:
        """Ask Redis; ``done`` gets the answer on the loop (None when Redis fails)."""

        answered = False

        def answer(restored: Restored) -> None:
            nonlocal answered
            answered = True
            done(restored)

        async def restore() -> None:
            try:
                await self.adapter.restore_session(namespace, pid, offset, answer)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("cannot restore session %s from Redis: a new session instead",
                               pid, exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip
                if not answered:
                    done(None)

        task = asyncio.get_running_loop().create_task(restore())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
