"""Connection state recovery on Redis Streams: where the sessions are, and how a restore
reads what a client missed (the :class:`~flask_realtime.server.recovery.SessionBackend`
of :class:`~flask_realtime.adapters.redis_streams.RedisStreamsAdapter`).

- A socket that leaves for a reason that may be temporary is stored as Node's adapter
  stores it (``SET <prefix><pid>`` with an expiry; ``redis_streams_wire``); one that
  leaves for good is dropped (``DEL``).
- Beyond Node, live sockets are stored too: when they join or leave a room (once per loop
  tick for all of them) and every heartbeat interval, with an expiry past the next
  refresh, so that a client whose server crashed recovers on another one, with its rooms
  and its ``socket_data`` as of the last store.
- A restore takes the session (``GET`` + ``DEL`` in one transaction: restored once),
  checks that the client's offset is still in the stream, then reads the entries after it
  up to where this server's reader is, while the reader waits (``adapter.applying``),
  and answers before the reader goes on: each event reaches the client once, replayed or
  live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from flask_realtime.adapters.redis_streams_wire import (
    decode_entry,
    decode_session,
    encode_session,
    entry_id,
    is_offset,
    next_offset,
    selected_event,
    text,
)
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server.recovery import Restored, Session, SessionBackend
from flask_realtime.server.socket import Socket, SocketState
from flask_realtime.typing import NamespaceName

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from flask_realtime.deadlines import Deadline
    from flask_realtime.server.cluster_messages import ClusterHost
    from flask_realtime.server.recovery import RecoveryOptions

__all__ = ["StreamHost", "StreamSessions"]

logger = logging.getLogger(__name__)

_RESTORE_PAGES = 100  # XRANGE calls at most per restore (Node's limit)
_PAGE = 1000
_CATCH_UP_POLLS = 200  # times 10 ms: how long a restore waits for the reader to catch up


class StreamHost(Protocol):
    """What the sessions use of their adapter (``RedisStreamsAdapter``)."""

    stream: str
    session_prefix: str
    heartbeat_interval: float
    applying: asyncio.Lock

    @property
    def redis(self) -> Redis | None: ...

    @property
    def read_offset(self) -> str: ...

    @property
    def cluster_host(self) -> ClusterHost: ...

    def enqueue(self, command: tuple[str, tuple[Any, ...]]) -> None: ...

    def local_sockets_everywhere(self) -> list[Socket]: ...


class StreamSessions(SessionBackend):
    """Sessions in Redis for one adapter (see the module docstring); events are written
    to the stream by the adapter's broadcast (``record`` does nothing)."""

    def __init__(self, adapter: StreamHost, options: RecoveryOptions) -> None:
        self.adapter = adapter
        self.options = options
        self._tasks: set[asyncio.Task[None]] = set()
        self._dirty: dict[Socket, None] = {}  # sockets to store at the end of this tick
        self._refresh: Deadline | None = None

    # -- the SessionBackend protocol ---------------------------------------------------------

    @property
    def delivers(self) -> bool:
        """True: logged events reach sockets once the stream gave them their offset."""
        return True

    def persist(self, namespace: NamespaceName, session: Session) -> None:
        """Store the session of a socket that left, for the recovery window."""
        self.store(session, self.options.max_disconnection_duration)

    def forget(self, namespace: NamespaceName, pid: str) -> None:
        """Drop the stored session of a socket that left for good."""
        self.adapter.enqueue(("del", (self.adapter.session_prefix + pid,)))

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
                await self._restore(namespace, pid, offset, answer)
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

    # -- storing -----------------------------------------------------------------------------

    def store(self, session: Session, seconds: float) -> None:
        """``SET <prefix><pid> <session> EX <seconds>``, as Node's adapter does."""
        try:
            encoded = encode_session(session)
        except (ConfigurationError, RuntimeError) as exc:  # data that cannot be stored
            logger.warning("cannot store the session of %s: %s", session.sid, exc)
            return
        key = self.adapter.session_prefix + session.pid
        self.adapter.enqueue(("set", (key, encoded, max(1, int(seconds)))))

    def start(self) -> None:
        """Store every live socket every heartbeat interval from now on."""
        host = self.adapter.cluster_host
        self._refresh = host.deadlines.call_at(
            host.clock() + self.adapter.heartbeat_interval, self._refresh_all
        )

    def stop(self) -> None:
        """Stop the refresh."""
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None

    def touch(self, socket: Socket) -> None:
        """``socket`` joined or left a room: store it at the end of this loop tick."""
        if socket.pid is None:
            return
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._store_dirty)
        self._dirty[socket] = None

    def _store_dirty(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for socket in dirty:
            self._store_live(socket)

    def _store_live(self, socket: Socket) -> None:
        if socket.pid is None:
            return
        if socket.state is not SocketState.CONNECTED and socket.state is not SocketState.CONNECTING:
            return  # it left: its session was stored (or dropped) then
        adapter = self.adapter
        # Kept past the next refresh, so that it outlives a crash by the whole window.
        seconds = self.options.max_disconnection_duration + 2 * adapter.heartbeat_interval
        self.store(socket.session(adapter.cluster_host.clock()), seconds)

    def _refresh_all(self, now: float) -> None:
        for socket in self.adapter.local_sockets_everywhere():
            self._store_live(socket)
        if self._refresh is not None:
            self._refresh.set(now + self.adapter.heartbeat_interval)

    # -- restoring ---------------------------------------------------------------------------

    async def _restore(
        self, namespace: NamespaceName, pid: str, offset: str, done: Callable[[Restored], None]
    ) -> None:
        """``done`` gets session ``pid`` (taken: a session is restored once) and the
        events of ``namespace`` after ``offset`` that it would have received, or None.

        Exactly once: the missed events are those up to where the reader is, read while
        the reader waits, and ``done`` (which puts the socket in its rooms) runs before it
        goes on; the later ones reach the socket live.
        """
        adapter = self.adapter
        client = adapter.redis
        if client is None or not is_offset(offset):
            done(None)
            return
        key = adapter.session_prefix + pid
        async with client.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.delete(key)
            pipe.xrange(adapter.stream, offset, offset)
            stored, _deleted, found = await pipe.execute()
        session = decode_session(stored, adapter.cluster_host.clock()) if stored else None
        if session is None or not found:
            done(None)  # expired, already taken, or the offset was trimmed away
            return
        # The client may know an entry this server has not read yet: let the reader pass it.
        for _ in range(_CATCH_UP_POLLS):
            if entry_id(adapter.read_offset) >= entry_id(offset):
                break
            await asyncio.sleep(0.01)
        async with adapter.applying:
            end = adapter.read_offset
            missed: list[list[Any]] = []
            start = next_offset(offset)
            for _page in range(_RESTORE_PAGES):
                if entry_id(start) > entry_id(end):
                    break
                entries: Any = await client.xrange(adapter.stream, start, end, count=_PAGE)
                for raw_id, fields in entries:
                    entry = text(raw_id)
                    start = next_offset(entry)
                    message = decode_entry(fields)
                    if message is not None and message.nsp == namespace:
                        data = selected_event(message, session.rooms)
                        if data is not None:
                            missed.append([*data, entry])
                if len(entries) < _PAGE:
                    break
            done((session, missed))
