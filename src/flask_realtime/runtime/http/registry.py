"""The set of a server's open connections: the connection limit, timeouts and shutdown.

HTTP connections register themselves; a connection that a WebSocket upgrade hands to the
endpoint's protocol stays counted through a thin ``AdoptedConnection`` that only observes
``connection_lost`` (the hot-path callbacks go straight to the endpoint's protocol, see
below).

Timeouts: each connection has a ``deadline`` (a float, 0 for none), kept as a
:class:`~flask_realtime.deadlines.Deadline` in the registry's heap (:class:`ConnectionDeadline`
makes the attribute do that), which one ``loop.call_at`` drives. A deadline that moves
later (a keep-alive connection's next request) pushes nothing; the entry fires at the old
time and is put back at the new one. So an idle connection costs nothing, and a timeout
is enforced when due, with no periodic sweep over every connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, overload

from flask_realtime.deadlines import Deadline, Deadlines
from flask_realtime.runtime.engineio.timer import DeadlineTimer
from flask_realtime.runtime.http.limits import Limits

__all__ = ["AdoptedConnection", "ConnectionDeadline", "ConnectionRegistry", "TrackedConnection"]

logger = logging.getLogger(__name__)


class TrackedConnection(Protocol):
    """What the registry needs of an HTTP connection."""

    deadline: float
    """Loop time at which ``timed_out`` is due; 0 for none (a :class:`ConnectionDeadline`)."""

    deadline_entry: Deadline | None
    """Where :class:`ConnectionDeadline` keeps it; set by the registry while it tracks it."""

    def timed_out(self) -> None:
        """The deadline has passed."""

    def shutdown(self) -> None:
        """The server is stopping: close now if idle, else after the response in flight."""

    def abort(self) -> None:
        """Drop the connection now."""


class ConnectionDeadline:
    """The ``deadline`` attribute of a tracked connection, stored in the registry's heap.

    A connection class declares ``deadline = ConnectionDeadline()`` and a
    ``deadline_entry`` slot; setting ``conn.deadline`` then sets (or, with 0, cancels)
    the connection's entry, and reading it gives the entry's time, or 0. Before the
    registry tracks the connection, and after, there is nothing to time out: a set is
    ignored and a read gives 0.
    """

    __slots__ = ()

    @overload
    def __get__(self, conn: None, owner: type[Any]) -> ConnectionDeadline: ...

    @overload
    def __get__(self, conn: object, owner: type[Any] | None = None) -> float: ...

    def __get__(
        self, conn: object | None, owner: type[Any] | None = None
    ) -> float | ConnectionDeadline:
        if conn is None:
            return self
        entry: Deadline | None = getattr(conn, "deadline_entry", None)
        when = entry.when if entry is not None else None
        return 0.0 if when is None else when

    def __set__(self, conn: object, value: float) -> None:
        entry: Deadline | None = getattr(conn, "deadline_entry", None)
        if entry is None:
            return
        if value > 0.0:
            entry.set(value)
        else:
            entry.cancel()


class AdoptedConnection:
    """Stands in for the endpoint's protocol after a WebSocket upgrade, to see it close.

    Only ``connection_made`` and ``connection_lost`` pass through here. The transport's
    other callbacks are the inner protocol's own: ``data_received`` is read once, when the
    transport takes this protocol (uvloop keeps the bound method it got), so a message
    costs no extra call. The others (end of stream, flow control) are rare, and are
    fetched from the inner protocol when called: kept here, they would be three bound
    methods per connection, tracked objects that every full collection walks for the
    connection's whole life.
    """

    __slots__ = ("_inner", "_registry", "transport")

    def __init__(self, inner: asyncio.Protocol, registry: ConnectionRegistry) -> None:
        self._inner = inner
        self._registry = registry
        self.transport: asyncio.BaseTransport | None = None

    @property
    def data_received(self) -> Callable[[bytes], None]:
        """The inner protocol's (read once, by the transport, see the class doc)."""
        return self._inner.data_received

    @property
    def eof_received(self) -> Callable[[], bool | None]:
        """The inner protocol's."""
        return self._inner.eof_received

    @property
    def pause_writing(self) -> Callable[[], None]:
        """The inner protocol's."""
        return self._inner.pause_writing

    @property
    def resume_writing(self) -> Callable[[], None]:
        """The inner protocol's."""
        return self._inner.resume_writing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.release(self)
        self._inner.connection_lost(exc)


class ConnectionRegistry:
    """Counts and watches one server's connections (loop thread only)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self._loop = loop
        self._limits = limits
        self._http: set[TrackedConnection] = set()
        self._adopted: set[AdoptedConnection] = set()
        self._deadlines = Deadlines()
        self._timer: DeadlineTimer | None = None
        self._empty: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._http) + len(self._adopted)

    @property
    def http_count(self) -> int:
        """Open HTTP connections."""
        return len(self._http)

    @property
    def upgraded_count(self) -> int:
        """Open connections handed to the endpoint (WebSocket)."""
        return len(self._adopted)

    def add(self, conn: TrackedConnection) -> bool:
        """Register a new HTTP connection; False when the server is at ``max_connections``."""
        if len(self._http) + len(self._adopted) >= self._limits.max_connections:
            return False
        self._http.add(conn)
        conn.deadline_entry = Deadline(self._deadlines, partial(self._timed_out, conn))
        return True

    def remove(self, conn: TrackedConnection) -> None:
        """An HTTP connection closed, or was handed over."""
        self._http.discard(conn)
        entry = getattr(conn, "deadline_entry", None)
        if entry is not None:
            # Dropped, not only cancelled: the heap keeps the entry until its time, and
            # its callback holds the connection (after a WebSocket upgrade, the whole HTTP
            # connection the session no longer needs, for as long as its timeout).
            entry.drop()
            conn.deadline_entry = None
        self._check_empty()

    def hand_over(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.Protocol,
        rest: bytes,
        *,
        write_paused: bool,
    ) -> None:
        """Give the connection to ``protocol`` as the Endpoint contract says (set_protocol,
        connection_made, data_received(rest)), and keep counting it until it closes."""
        adopted = AdoptedConnection(protocol, self)
        self._adopted.add(adopted)
        transport.set_protocol(adopted)  # type: ignore[arg-type]
        adopted.connection_made(transport)
        if write_paused:
            adopted.pause_writing()
        if rest:
            adopted.data_received(rest)

    def release(self, adopted: AdoptedConnection) -> None:
        """An adopted connection closed."""
        self._adopted.discard(adopted)
        self._check_empty()

    # -- timeouts ------------------------------------------------------------------------------

    def start(self) -> None:
        """Enforce the connections' deadlines (the first is armed when it is set)."""
        if self._timer is None:
            self._timer = DeadlineTimer(self._deadlines, self._loop)

    def stop(self) -> None:
        """Stop enforcing deadlines (the server is closing)."""
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    def _timed_out(self, conn: TrackedConnection, now: float) -> None:
        if conn in self._http:
            conn.timed_out()

    # -- shutdown ------------------------------------------------------------------------------

    def shutdown_http(self) -> None:
        """Ask every HTTP connection to close once it is idle."""
        for conn in list(self._http):
            conn.shutdown()

    def abort_all(self) -> None:
        """Drop every connection, HTTP and adopted, now."""
        for conn in list(self._http):
            conn.abort()
        for adopted in list(self._adopted):
            if adopted.transport is not None:
                adopted.transport.abort()  # type: ignore[attr-defined]

    async def wait_http_closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the HTTP connections to close; whether they did."""
        return await self._wait(lambda: not self._http, timeout)

    async def wait_all_closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every connection to close; whether they did."""
        return await self._wait(lambda: not self._http and not self._adopted, timeout)

    async def _wait(self, done: Any, timeout: float) -> bool:
        deadline = self._loop.time() + timeout
        while not done():
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            self._empty = asyncio.Event()
            try:
                await asyncio.wait_for(self._empty.wait(), remaining)
            except TimeoutError:
                return bool(done())
            finally:
                self._empty = None
        return True

    def _check_empty(self) -> None:
        if self._empty is not None:
            self._empty.set()  # waiters re-check their own condition
