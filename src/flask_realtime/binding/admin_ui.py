"""The server half of ``@socket.io/admin-ui``'s protocol: ``socketio.instrument()``.

The official admin UI connects to the admin namespace ("/admin") with basic auth
(``binding/admin_auth.py``) and learns what happens on the server from these events,
which this module sends to the admin namespace (hence to every admin UI connected to
any server of a cluster: they go through the adapter):

- ``config`` (the features: ``EMIT``, ``JOIN``, ``LEAVE``, ``DISCONNECT`` and their
  ``M...`` forms unless read-only; ``AGGREGATED_EVENTS``; ``ALL_EVENTS`` in development
  mode) and ``session`` (a session id to reconnect with), to the admin socket that
  connected;
- ``server_stats`` every ``server_stats_interval`` seconds, from each server (its id,
  host, pid, uptime, connections, sockets per namespace, counts per second), while an
  admin UI may be looking: a single server's from its first admin's login until the last
  leaves (``admin_stats.py``);
- in development mode only: ``all_sockets`` (every socket of the cluster, on connect),
  ``socket_connected``, ``socket_updated`` (the upgrade to WebSocket),
  ``socket_disconnected``, ``room_joined``, ``room_left``, ``event_received`` and
  ``event_sent`` (events to one socket; the admin namespace's own are not reported).

The admin namespace's handlers (the login, the actions) are in ``admin_handlers.py``.
The UI's actions are the admin namespace's events ``emit``, ``join``, ``leave`` and
``_disconnect``, each with a namespace and a room (a socket id is a room) and carried
out across the cluster by the adapter (``admin_actions.py``); read-only mode registers
none of them.

This module holds :class:`AdminUI`: what it is told (an observer of the server), who is
let in, and the sockets as the UI shows them. Its statistics and its actions are its
bases, :class:`~.admin_stats.AdminStats` and :class:`~.admin_actions.AdminActions`.

As Node's, the per-socket events cost a broadcast each: production mode sends only the
statistics. Unlike Node's, a single server (no cluster adapter) watches the events, and
makes the statistics, only while an admin UI is logged in to it: with nobody watching,
development mode costs what production mode costs, and neither runs a timer.
"""

from __future__ import annotations

import logging
import os
import socket as stdlib_socket
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from ..engine.lifecycle import CloseReason
from ..exceptions import ConfigurationError
from ..protocol.socketio import Packet, PacketType
from ..server.adapter import BroadcastOptions
from ..server.cluster_messages import describe_socket
from ..server.observers import Observer, Observers, live_sockets
from .admin_actions import AdminActions
from .admin_auth import AdminAuth
from .admin_stats import AdminStats, EventBuffer

if TYPE_CHECKING:
    from ..deadlines import Deadline
    from ..engine.socket import EngineSocket
    from ..server.socket import Socket
    from ..typing import NamespaceName, Room
    from .service import AppService

__all__ = ["ADMIN_KEY", "ADMITTED", "AdminUI"]

logger = logging.getLogger(__name__)

ADMIN_KEY = "flask_realtime.admin_ui"
"""Where an app's :class:`AdminUI` is kept in ``app.extensions``."""

ADMITTED = "flask-realtime:admitted"
"""The room of the admin namespace's sockets whose login was checked: what the server
tells the UI goes to it alone, and only its sockets' actions run (with ``always_connect``
a socket is in the namespace before its login is checked, or after it was refused)."""

Mode = Literal["development", "production"]
_ALL_FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]


def _now() -> str:
    """A timestamp as Node's ``new Date()`` reaches the UI in JSON."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_HIDDEN_HEADERS = frozenset(("cookie", "authorization", "proxy-authorization"))
"""Handshake headers the UI never shows: the clients' credentials (Node shows them)."""

_STATS_POINTS = frozenset(("session_opened", "session_closed"))
"""What the statistics watch (the traffic is read from the server's counts)."""
_SOCKET_POINTS = frozenset(("socket_connected", "socket_disconnected"))
"""What development mode always watches: once per socket (when each connected, who of
the admins left)."""
_LIVE_POINTS = frozenset(("session_upgraded", "room_joined", "room_left", "event_received",
                          "event_sent"))  # fmt: skip
"""What development mode watches while an admin UI may be looking (see the module
docstring): the events, a broadcast each."""


class AdminUI(AdminStats, AdminActions, Observer):
    """The admin UI's view of one app's server (see the module docstring).

    Args:
        service: the app's service.
        auth: who may connect (:class:`~.admin_auth.AdminAuth`).
        mode: ``"development"`` (every socket, room and event) or ``"production"``
            (statistics only).
        namespace: the admin namespace.
        read_only: refuse the UI's actions.
        server_id: this server's name in the UI (default: the host name, and the pid
            when several worker processes serve).
        server_stats_interval: seconds between two ``server_stats``.
    """

    def __init__(
        self,
        service: AppService,
        auth: AdminAuth,
        *,
        mode: Mode = "development",
        namespace: str = "/admin",
        read_only: bool = False,
        server_id: str | None = None,
        server_stats_interval: float = 2.0,
    ) -> None:
        if mode not in ("development", "production"):
            raise ConfigurationError(f'mode must be "development" or "production", not {mode!r}')
        if not isinstance(namespace, str) or not namespace.startswith("/"):
            raise ConfigurationError(f"the admin namespace must start with '/', not {namespace!r}")
        if server_stats_interval <= 0:
            raise ConfigurationError("server_stats_interval must be positive")
        self.service = service
        self.trust_forwarded = service.options.engine.trust_forwarded_headers
        self.auth = auth
        self.development = mode == "development"
        self.namespace = namespace
        self.read_only = read_only
        hostname = stdlib_socket.gethostname()
        self.server_id = server_id or f"{hostname}#{os.getpid()}"
        self.hostname = hostname
        self.interval = server_stats_interval
        self.features = ([] if read_only else list(_ALL_FEATURES)) + ["AGGREGATED_EVENTS"]
        if self.development:
            self.features.append("ALL_EVENTS")
        self.started = time.monotonic()
        self._events = EventBuffer()
        self._ticking = False
        self._timers: dict[str, Deadline] = {}  # the statistics' next tick and sample
        self.observers: Observers | None = None
        """The server's observers (set when installed): the traffic counts, the rewiring."""
        self._admins: set[str] = set()  # the admin sockets of this server let in
        self._read = [0, 0, 0, 0]  # the traffic totals at the last reading
        self._issued: dict[tuple[NamespaceName, str], float] = {}

    # -- sending to the admin namespace, the sockets as shown (loop thread) ----------------

    def _send(self, event: str, *args: Any) -> None:
        name = self.namespace
        server = self.service.server
        try:
            server.adapter.broadcast(name, Packet(PacketType.EVENT, name, [event, *args]),
                                     BroadcastOptions(frozenset((ADMITTED,))))  # fmt: skip
        except ConfigurationError:
            logger.debug("admin UI: %s could not be encoded", event)

    def _watched(self, namespace: NamespaceName) -> bool:
        return self.development and self._ticking and namespace != self.namespace

    def serialize(self, socket: Socket) -> dict[str, Any]:
        """A local socket as the UI shows it (Node's ``SerializedSocket``)."""
        rooms = self.service.server.adapter.rooms(socket.nsp.name, socket.sid)
        described = describe_socket(socket, rooms)
        return self._complete(described, socket.nsp.name, socket.eio)

    def _complete(
        self, described: dict[str, Any], namespace: NamespaceName, eio: EngineSocket | None
    ) -> dict[str, Any]:
        handshake = dict(described.get("handshake") or {})
        headers: dict[str, Any] = handshake.get("headers") or {}
        handshake.pop("auth", None)  # never the client's credentials
        if headers:
            handshake["headers"] = {
                name: "(hidden)" if name.lower() in _HIDDEN_HEADERS else value
                for name, value in headers.items()
            }
        forwarded = headers.get("x-forwarded-for") if self.trust_forwarded else None
        if forwarded:
            # The entry the nearest proxy wrote, as max_connections_per_address counts it;
            # without trust_forwarded_headers the client may have written any of them.
            handshake["address"] = forwarded.rsplit(",", 1)[-1].strip() or handshake.get("address")
        issued = self._issued.get((namespace, described.get("id", "")))
        if issued is not None:
            handshake["issued"] = int(issued * 1000)
            handshake["time"] = datetime.fromtimestamp(issued, UTC).strftime(
                "%a, %d %b %Y %H:%M:%S GMT"
            )
        return {
            "id": described.get("id"),
            "clientId": eio.sid[:12] if eio is not None else "",
            "transport": eio.transport_name if eio is not None else "",
            "nsp": namespace,
            "data": described.get("data") or {},
            "handshake": handshake,
            "rooms": [room for room in described.get("rooms") or () if room != ADMITTED],
        }

    async def all_sockets(self) -> list[dict[str, Any]]:
        """Every socket of every server (this one's with its transport)."""
        server = self.service.server
        local: dict[tuple[str, Any], dict[str, Any]] = {
            (s.nsp.name, s.sid): self.serialize(s) for s in live_sockets(server)
        }
        result = list(local.values())
        fetch = getattr(server.adapter, "fetch_sockets", None)
        if fetch is None:
            return result
        names = dict.fromkeys(nsp.name for nsp in server.namespaces.live())
        names.update(dict.fromkeys(server.registry.declared_names()))
        for name in names:
            try:
                found = await fetch(name, BroadcastOptions(), 2.0)
            except Exception:
                logger.warning("admin UI: the other servers' sockets of %s are unknown", name)
                continue
            for described in found:
                if (name, described.get("id")) not in local:
                    result.append(self._complete(described, name, None))
        return result

    # -- observer (loop thread) ------------------------------------------------------------

    def session_opened(self, eio: EngineSocket) -> None:
        if not self._ticking:  # in a cluster, the first connection (else: the first admin)
            self.start_ticking()
        if self._ticking:
            self._events.push("rawConnection")

    def session_closed(self, eio: EngineSocket, reason: CloseReason) -> None:
        if self._ticking:
            self._events.push("rawDisconnection", reason.value)

    reads_traffic = False
    """True while the statistics run (``admin_stats.py``): the server counts the traffic
    for them only then."""

    def watching(self, point: str) -> bool:
        if point in _STATS_POINTS:
            return True
        if point == "socket_disconnected" and self._admins:
            return True  # who of the admins left (in production mode too)
        if not self.development:
            return False
        return point in _SOCKET_POINTS or (point in _LIVE_POINTS and self.looked_at)

    @property
    def looked_at(self) -> bool:
        """Whether an admin UI may be looking now: one is logged in to this server, or
        the server is one of a cluster (an admin of another server sees its events)."""
        if self._admins:
            return True
        return getattr(self.service.server.adapter, "fetch_sockets", None) is not None

    def socket_connected(self, socket: Socket) -> None:
        if self.development:
            self._issued[(socket.nsp.name, socket.sid)] = time.time()
            if self._ticking and self.looked_at:
                self._send("socket_connected", self.serialize(socket), _now())

    def socket_disconnected(self, socket: Socket, reason: CloseReason) -> None:
        if self.development:
            self._issued.pop((socket.nsp.name, socket.sid), None)
            if self._ticking and self.looked_at:
                self._send("socket_disconnected", socket.nsp.name, socket.sid, reason.value,
                           _now())  # fmt: skip
        if socket.nsp.name == self.namespace and socket.sid in self._admins:
            self._admins.discard(socket.sid)
            if not self._admins and self.observers is not None:
                # The last admin left: stop watching the events and who of the admins
                # leaves, and the statistics unless an admin elsewhere may be looking.
                if self._ticking and not self.looked_at:
                    self.stop_ticking()  # which rewires
                else:
                    self.observers.rewire()

    def session_upgraded(self, eio: EngineSocket) -> None:
        if not (self.development and self._ticking):
            return
        for socket in live_sockets(self.service.server):
            if socket.eio is eio:
                self._send("socket_updated", {"id": socket.sid, "nsp": socket.nsp.name,
                                              "transport": eio.transport_name})  # fmt: skip

    def room_joined(self, socket: Socket, room: Room) -> None:
        if self.development and self._ticking and room != ADMITTED:
            self._send("room_joined", socket.nsp.name, room, socket.sid, _now())

    def room_left(self, socket: Socket, room: Room) -> None:
        if self.development and self._ticking and room != ADMITTED:
            self._send("room_left", socket.nsp.name, room, socket.sid, _now())

    def event_received(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        if self._watched(socket.nsp.name):
            self._send("event_received", socket.nsp.name, socket.sid, [event, *args], _now())

    def event_sent(
        self, namespace: NamespaceName, event: str, args: tuple[Any, ...], to: Socket | None
    ) -> None:
        if to is not None and self._watched(namespace):
            self._send("event_sent", namespace, to.sid, [event, *args], _now())

    # -- the admins (loop thread) ----------------------------------------------------------

    def admit(self, sid: str) -> None:
        """Let the admin socket ``sid``, whose login was checked, see and act."""
        server = self.service.server
        socket = server.get_socket(sid, self.namespace)
        if socket is not None:
            server.adapter.add(socket, ADMITTED)  # never refused by max_rooms_per_socket
            first = not self._admins
            self._admins.add(sid)  # who looks (forgotten in socket_disconnected)
            if first and self.observers is not None:
                # Someone looks: the statistics from now on (a report at once), and watch
                # the events and who of the admins leaves.
                if self._ticking:
                    self.observers.rewire()
                else:
                    self.start_ticking()  # which rewires

    def admitted(self, sid: str) -> bool:
        """Whether the admin socket ``sid`` was let in (its actions may run)."""
        return ADMITTED in self.service.server.adapter.rooms(self.namespace, sid)
