"""Connection state recovery: a client that lost its connection for a moment comes back
with the same socket id, its rooms, its ``data``, and every event it missed.

Wire-compatible with socket.io 4.6+ and its official client (Node's ``Socket`` and
``SessionAwareAdapter``):

- with recovery on, each socket has a private id, the ``pid``, sent only to its client in
  the CONNECT reply (``{"sid": ..., "pid": ...}``);
- every event the server emits without an acknowledgement and not ``volatile`` gets an
  *offset* appended as its last argument (a string; Node does the same, and the client
  keeps the last one it received) and is kept in the namespace's log;
- when a socket leaves for a reason that may be temporary (transport close or error,
  ping timeout, server shutdown), its session (sid, pid, rooms, data) is kept;
- a client that comes back sends ``{"pid": ..., "offset": ...}`` in its CONNECT auth. If
  the session is still kept and the offset still in the log, the new socket takes the
  old sid, rooms and data, ``recovered`` is true (on the client too: the pid matches),
  and the events of the log after the offset that the socket's rooms selected follow the
  CONNECT reply, in order. Otherwise the client gets a new session, as if it were new.

Bounded (:class:`RecoveryOptions`): sessions are kept ``max_disconnection_duration``
seconds; each namespace's log keeps at most ``max_packets`` events, none older than that
duration. A client away longer, or that missed more events, gets a new session. Beyond
Node, emits to one socket (``to=sid``) are logged too, so they are replayed as well.

Everything here runs on the loop thread; the time is the server's clock, and expired
sessions are swept by one deadline in the server's heap.
"""

from __future__ import annotations

import difflib
import itertools
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol, TypeAlias

from flask_realtime.deadlines import Deadline, Deadlines
from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.typing import NamespaceName, Room, Sid

__all__ = [
    "RECOVERABLE",
    "RecoveryOptions",
    "Restored",
    "Session",
    "SessionBackend",
    "SessionStore",
]

RECOVERABLE = frozenset(
    {
        CloseReason.TRANSPORT_CLOSE,
        CloseReason.TRANSPORT_ERROR,
        CloseReason.PING_TIMEOUT,
        CloseReason.SERVER_SHUTDOWN,
    }
)
"""The reasons a socket leaves that keep its session (Node's
``RECOVERABLE_DISCONNECT_REASONS``); a client or server disconnect is final."""


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    """The ``connection_state_recovery`` setting.

    Attributes:
        max_disconnection_duration: seconds a session and the events it may miss are
            kept (Node's ``maxDisconnectionDuration``, 2 minutes).
        skip_middlewares: a recovered client skips the connect middlewares (Node's
            ``skipMiddlewares``); its connect handler still runs.
        max_packets: events kept per namespace for clients that come back; a client that
            missed more gets a new session.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_packets: int = 10_000

    @classmethod
    def from_setting(cls, value: Any) -> RecoveryOptions | None:
        """The options of a ``connection_state_recovery=`` value: None or False (off),
        True (the defaults), or a dict of the attributes.

        Raises:
            ConfigurationError: an unknown key or a value of the wrong kind.
        """
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                "connection_state_recovery must be True, False, None or a dict such as "
                '{"max_disconnection_duration": 120, "skip_middlewares": True}'
            )
        names = [f.name for f in fields(cls)]
        for key in value:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f": did you mean {close[0]}?" if close else f" (one of {names})"
                raise ConfigurationError(f"connection_state_recovery has no {key!r}{hint}")
        options = cls(**value)
        duration = options.max_disconnection_duration
        if not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration <= 0:
            raise ConfigurationError(
                f"max_disconnection_duration must be a positive number of seconds, not {duration!r}"
            )
        if type(options.max_packets) is not int or options.max_packets < 1:
            raise ConfigurationError(
                f"max_packets must be a positive int, not {options.max_packets!r}"
            )
        if not isinstance(options.skip_middlewares, bool):
            raise ConfigurationError("skip_middlewares must be True or False")
        return options


@dataclass(slots=True)
class Session:
    """What a socket that left leaves behind for its client's return.

    Attributes:
        sid: its socket id.
        pid: its private id.
        rooms: its rooms (its own sid first).
        data: its ``user_data``, or None when it had none.
        left_at: when it left (the server's clock).
    """

    sid: Sid
    pid: str
    rooms: tuple[Room, ...]
    data: dict[str, Any] | None
    left_at: float


Restored: TypeAlias = tuple[Session, list[list[Any]]] | None
"""A restored session and the events it missed (each ``[event, *args, offset]``), or None."""


class SessionBackend(Protocol):
    """Where sessions and the event log live: this process's memory
    (:class:`SessionStore`), or a broker shared by the servers of a cluster (an adapter's,
    such as the Redis Streams adapter's)."""

    options: RecoveryOptions

    @property
    def delivers(self) -> bool:
        """Whether logged events reach this server's sockets through the backend (the
        offset is known only once the broker stored the event): the server then hands
        every logged event, to one socket too, to the adapter's broadcast."""
        ...

    def record(
        self,
        namespace: NamespaceName,
        data: list[Any],
        rooms: frozenset[Room],
        except_rooms: frozenset[Room],
    ) -> None:
        """Log an event the server emits (an in-memory backend appends its offset); by
        default nothing: a broker backend's adapter writes the event itself."""
        return None

    def persist(self, namespace: NamespaceName, session: Session) -> None:
        """Keep the session of a socket that left."""

    def forget(self, namespace: NamespaceName, pid: str) -> None:
        """A socket left for good (the client or the server disconnected it): a backend
        that keeps sessions of live sockets (to survive a crash) drops this one."""

    def restore(
        self, namespace: NamespaceName, pid: str, offset: str, done: Callable[[Restored], None]
    ) -> None:
        """Find session ``pid`` and what it missed after ``offset``; ``done`` gets it, or
        None, on the loop (at once, or later for a broker)."""


@dataclass(slots=True)
class _Logged:
    """One event of a namespace's log."""

    data: list[Any]
    rooms: frozenset[Room]
    except_rooms: frozenset[Room]
    at: float

    def selects(self, rooms: tuple[Room, ...]) -> bool:
        """Whether a socket in ``rooms`` was a recipient (Node's ``shouldIncludePacket``)."""
        included = not self.rooms or any(room in self.rooms for room in rooms)
        return included and not any(room in self.except_rooms for room in rooms)


class _Log:
    """The events of one namespace, numbered. An offset is the log's random prefix and a
    number: offsets of another server, or of a log forgotten since, never match."""

    __slots__ = ("entries", "first", "prefix")

    def __init__(self) -> None:
        self.entries: deque[_Logged] = deque()
        self.first = 0  # the number of entries[0]
        self.prefix = secrets.token_urlsafe(6) + "-"


class SessionStore:
    """Sessions of sockets that left, and each namespace's log of events (in memory).

    Args:
        options: the bounds.
        deadlines: the server's heap (for the sweep of expired sessions).
        clock: the server's clock.
    """

    __slots__ = ("_clock", "_logs", "_sessions", "_sweep", "options")

    def __init__(
        self, options: RecoveryOptions, deadlines: Deadlines, clock: Callable[[], float]
    ) -> None:
        self.options = options
        self._clock = clock
        self._sessions: dict[tuple[NamespaceName, str], Session] = {}
        self._logs: dict[NamespaceName, _Log] = {}
        self._sweep = Deadline(deadlines, self._expire)

    def __len__(self) -> int:
        """How many sessions are kept."""
        return len(self._sessions)

    @property
    def delivers(self) -> bool:
        """False: the offset is known at once, so events go out the usual way."""
        return False

    def logged(self, namespace: NamespaceName) -> int:
        """How many events of ``namespace`` are kept."""
        log = self._logs.get(namespace)
        return len(log.entries) if log is not None else 0

    # -- the events ------------------------------------------------------------------------

    def record(
        self,
        namespace: NamespaceName,
        data: list[Any],
        rooms: frozenset[Room],
        except_rooms: frozenset[Room],
    ) -> None:
        """Append an offset to the event ``data`` (``[event, *args]``) and keep it."""
        log = self._logs.get(namespace)
        if log is None:
            log = self._logs[namespace] = _Log()
        now = self._clock()
        entries = log.entries
        number = log.first + len(entries)
        data.append(f"{log.prefix}{number:x}")
        entries.append(_Logged(data, rooms, except_rooms, now))
        self._trim(log, now)
        if not self._sweep.armed:
            self._sweep.set(now + self.options.max_disconnection_duration)

    def _trim(self, log: _Log, now: float) -> None:
        entries = log.entries
        oldest = now - self.options.max_disconnection_duration
        limit = self.options.max_packets
        while entries and (len(entries) > limit or entries[0].at <= oldest):
            entries.popleft()
            log.first += 1

    # -- the sessions ----------------------------------------------------------------------

    def persist(self, namespace: NamespaceName, session: Session) -> None:
        """Keep the session of a socket that left (for ``max_disconnection_duration``)."""
        self._sessions[(namespace, session.pid)] = session
        if not self._sweep.armed:
            self._sweep.set(session.left_at + self.options.max_disconnection_duration)

    def forget(self, namespace: NamespaceName, pid: str) -> None:
        """Nothing to do: sessions are kept only when a socket leaves."""

    def restore(
        self, namespace: NamespaceName, pid: str, offset: str, done: Callable[[Restored], None]
    ) -> None:
        """``done(find(namespace, pid, offset))``, at once."""
        done(self.find(namespace, pid, offset))

    def find(self, namespace: NamespaceName, pid: str, offset: str) -> Restored:
        """The session ``pid`` and the events it missed after ``offset``, or None when
        it cannot be recovered (unknown or expired session, offset no longer kept).

        A session is restored once: it is forgotten here.
        """
        session = self._sessions.pop((namespace, pid), None)
        if session is None:
            return None
        now = self._clock()
        if session.left_at + self.options.max_disconnection_duration < now:
            return None
        log = self._logs.get(namespace)
        if log is None or not offset.startswith(log.prefix):
            return None
        try:
            number = int(offset[len(log.prefix) :], 16)
        except ValueError:
            return None
        self._trim(log, now)
        index = number - log.first
        if index < 0 or index >= len(log.entries):
            return None  # too old, or never ours
        rooms = session.rooms
        missed = [
            entry.data
            for entry in itertools.islice(log.entries, index + 1, None)
            if entry.selects(rooms)
        ]
        return session, missed

    def _expire(self, now: float) -> None:
        """Forget expired sessions and events; come back when the next one expires."""
        duration = self.options.max_disconnection_duration
        sessions = self._sessions
        for key in [k for k, s in sessions.items() if s.left_at + duration <= now]:
            del sessions[key]
        logs = self._logs
        for name, log in list(logs.items()):
            self._trim(log, now)
            if not log.entries:
                del logs[name]  # a namespace quiet for that long (its next log has a new prefix)
        due = [s.left_at for s in sessions.values()]
        due.extend(log.entries[0].at for log in logs.values())
        if due:
            self._sweep.set(min(due) + duration)
