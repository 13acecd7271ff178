"""The Socket.IO server: namespaces, handlers, rooms, emits and acks, framework-free.

:class:`SocketIOServer` is the :class:`~flask_realtime.engine.socket.EngineHandler` of
the Engine.IO layer and the API of the layers above (the Flask facade, or any other
front). Registration (into the shared :class:`~flask_realtime.server.registry.HandlerRegistry`)
may happen from any thread at any time; every other method runs on the event-loop thread
only.

Timers: the server needs two, the connect timeout of a new connection and the timeout of
a ``call()``. They are deadlines in the :class:`~flask_realtime.deadlines.Deadlines` it is
given (shared with the Engine.IO server and driven by the runtime), measured on the clock
it is given, so a test drives them with a manual clock and ``fire(now)``.

Its bases hold two parts apart: the sends to one socket, the short paths of an emit
(:class:`~flask_realtime.server.one_socket.OneSocketSends`), and ``call()``, rooms and
``disconnect`` by sid
(:class:`~flask_realtime.server.socket_operations.OneSocketOperations`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from flask_realtime.deadlines import Deadlines
from flask_realtime.engine.socket import CloseReason, EngineHandler, EngineSocket
from flask_realtime.engine.traffic import Traffic
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.parsers import JsonParser, Parser
from flask_realtime.protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from flask_realtime.server.acks import DEFAULT_MAX_PENDING_ACKS, PendingAck
from flask_realtime.server.adapter import Adapter, BroadcastOptions
from flask_realtime.server.client import Client
from flask_realtime.server.client_limits import RatePolicy
from flask_realtime.server.invoker import DefaultInvoker, Invoker
from flask_realtime.server.live_namespaces import NamespaceTable
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.server.middlewares import notify_outgoing
from flask_realtime.server.recovery import RecoveryOptions, SessionBackend
from flask_realtime.server.registry import DynamicMatcher, HandlerRegistry
from flask_realtime.server.socket import Socket, SocketObserver
from flask_realtime.server.socket_operations import OneSocketOperations
from flask_realtime.typing import Handler, NamespaceName, Room, Sid

__all__ = ["SocketIOServer"]

logger = logging.getLogger(__name__)

_NO_ROOMS: frozenset[Room] = frozenset()


def _loop_time() -> float:
    """The running loop's clock (the runtime's deadline driver measures time with it)."""
    return asyncio.get_running_loop().time()


def _room_set(rooms: Room | Iterable[Room] | None) -> frozenset[Room]:
    if rooms is None:
        return _NO_ROOMS
    if isinstance(rooms, str):
        return frozenset((rooms,))
    return frozenset(rooms)


class SocketIOServer(OneSocketOperations, EngineHandler):
    """A Socket.IO v5 server (and v4 for socket.io 2.x clients) on Engine.IO sessions.

    Args:
        parser: encodes and decodes packets; the JSON parser by default.
        adapter: rooms and broadcasts; in memory by default (one process).
        invoker: runs handlers; :class:`~flask_realtime.server.invoker.DefaultInvoker`
            by default.
        always_connect: send the CONNECT reply before the connect handler runs, and
            disconnect the client if the handler then refuses (python-socketio).
        namespaces: names accepted besides those with handlers ("/" always is), or "*"
            for any name at all.
        connect_timeout: seconds a new connection has to join a namespace before it is
            closed (Node's ``connectTimeout``); None disables it.
        max_pending_acks: acknowledgements one socket may owe; past it the oldest fails.
        connection_rate: packets per second, bytes per second (either None) and the
            :class:`~.client_limits.RatePolicy` past them, for each connection; None for none.
        max_rooms_per_socket: rooms one socket may be in (its own sid room counts); a join
            past it is refused with a warning in the log. None for no limit.
        max_namespaces: namespaces one connection may be in at once; a CONNECT past it
            gets CONNECT_ERROR ("Too many namespaces") and the connection stays.
        legacy_parser: the parser for Engine.IO v3 (socket.io 2.x) clients; the JSON
            parser in its v4 flavour by default. Broadcasts use ``parser`` for everyone.
        deadlines: where the connect and ``call()`` timeouts go: the heap shared with
            the Engine.IO server (the runtime drives it), or a new one.
        clock: monotonic seconds, the time ``deadlines`` is measured in; by default the
            running loop's ``time()``, which is what the runtime's driver uses.
        registry: the application's handlers, shared by every server of the application
            (one per Flask app); a new one by default.
        recovery: connection state recovery (``server/recovery.py``); off by default.

    Attributes:
        registry: the :class:`~flask_realtime.server.registry.HandlerRegistry`.
        namespaces: this server's live namespaces (a
            :class:`~flask_realtime.server.live_namespaces.NamespaceTable`).
    """

    def __init__(
        self,
        *,
        parser: Parser | None = None,
        adapter: Adapter | None = None,
        invoker: Invoker | None = None,
        always_connect: bool = False,
        namespaces: list[str] | Literal["*"] | None = None,
        connect_timeout: float | None = 45.0,
        max_pending_acks: int = DEFAULT_MAX_PENDING_ACKS,
        max_namespaces: int = 100,
        connection_rate: tuple[float | None, float | None, RatePolicy] | None = None,
        max_rooms_per_socket: int | None = None,
        legacy_parser: Parser | None = None,
        deadlines: Deadlines | None = None,
        clock: Callable[[], float] | None = None,
        registry: HandlerRegistry | None = None,
        recovery: RecoveryOptions | None = None,
    ) -> None:
        if type(max_pending_acks) is not int or max_pending_acks < 1:
            raise ConfigurationError(
                f"max_pending_acks must be a positive int, not {max_pending_acks!r}"
            )
        if namespaces is not None and namespaces != "*" and isinstance(namespaces, str):
            raise ConfigurationError('namespaces must be a list of names or "*"')
        self._parser: Parser = parser if parser is not None else JsonParser()
        self.legacy_parser: Parser = (
            legacy_parser if legacy_parser is not None else JsonParser(version=4)
        )
        self.adapter: Adapter = adapter if adapter is not None else InMemoryAdapter()
        self.invoker: Invoker = invoker if invoker is not None else DefaultInvoker()
        self.log_events = False
        """Log each event received and emitted (``logger=True``), never their data."""
        self.observer: SocketObserver | None = None
        """Told of sockets joining and leaving (``server/observers.py``); None: unobserved."""
        self.emit_observer: Callable[[NamespaceName, str, tuple[Any, ...], Socket | None],
                                     None] | None = None  # fmt: skip
        """Told of each emit: namespace, event, arguments and the one local recipient, if
        that is what it was (``server/observers.py``); None: nobody watches."""
        self.emit_observer_reads_args = False
        """The emit observer reads the arguments: another thread may not encode an emit
        itself (the arguments it is told must be the copy the loop gets)."""
        self.emit_names: dict[NamespaceName, list[str]] | None = None
        """Where each emit's event name is appended, to its namespace's list (a dict that
        makes missing lists), in place of the emit observer, when the one observer of
        emits only counts them by name (the metrics: ``server/observers.py``); None: not
        so."""
        self.traffic: Traffic | None = None
        """The engine's traffic counts while it counts (``server/observer_swaps.py``), where
        the adapter counts a broadcast's messages once for all recipients; else None."""
        self.always_connect = always_connect
        self.connect_timeout = connect_timeout
        self.max_pending_acks = max_pending_acks
        self.max_namespaces = max_namespaces
        self.connection_rate = connection_rate
        self.max_rooms_per_socket = max_rooms_per_socket
        self.registry = registry if registry is not None else HandlerRegistry()
        self.namespaces = NamespaceTable(self.registry, namespaces)
        self.deadlines = deadlines if deadlines is not None else Deadlines()
        self.clock: Callable[[], float] = clock if clock is not None else _loop_time
        self._clients: dict[EngineSocket, Client] = {}
        self.recovery: SessionBackend | None = (
            self.adapter.recovery_backend(recovery, self.deadlines, self.clock)
            if recovery is not None
            else None
        )
        self._started = False
        self.adapter.bind(self)

    @property
    def parser(self) -> Parser:
        """The parser of Engine.IO v4 clients, and of every broadcast."""
        return self._parser

    @property
    def outgoing(self) -> Callable[[Socket, list[Any]], None] | None:
        """What to tell of each event emitted to a socket (its namespace's outgoing
        listeners), or None while no namespace has any: emits then skip this."""
        return notify_outgoing if self.registry.outgoing_watched else None

    @property
    def emits_unwatched(self) -> bool:
        """Whether an emit to one socket is only its bytes: no recovery log, no outgoing
        listeners, nothing in place of :meth:`emit`, no emit observer that reads the
        arguments. Only then may another thread encode such an emit itself and hand the
        loop finished bytes (:meth:`send_encoded`, which tells the emit observer).
        """
        return (
            self.recovery is None
            and not self.registry.outgoing_watched
            and ("emit" not in vars(self))
            and not self.emit_observer_reads_args
        )

    # -- lifecycle (the loop) ------------------------------------------------------------

    async def start(self) -> None:
        """Open the adapter (a cluster adapter joins its cluster); before serving.

        Idempotent: a second call while started does nothing.
        """
        if not self._started:
            self._started = True
            await self.adapter.open()

    async def stop(self) -> None:
        """Close the adapter (a cluster adapter leaves its cluster); a no-op when stopped."""
        if self._started:
            self._started = False
            await self.adapter.close()

    # -- registration (any thread, any time): delegates to the shared registry ----------

    def on(
        self, event: str, handler: Handler, namespace: str | DynamicMatcher | None = "/"
    ) -> None:
        """Register ``handler`` for ``event``: :meth:`HandlerRegistry.on`."""
        self.registry.on(event, handler, namespace)

    def on_error(self, namespace: str | DynamicMatcher | None, handler: Handler) -> None:
        """Register an error handler (None: the default): :meth:`HandlerRegistry.on_error`."""
        self.registry.on_error(namespace, handler)

    def dynamic_namespace(self, pattern: re.Pattern[str] | Callable[[str, Any], bool]) -> None:
        """Accept namespaces whose name matches ``pattern`` (see :mod:`.namespace`)."""
        self.registry.add_dynamic(pattern)

    # -- EngineHandler -----------------------------------------------------------------

    def on_open(self, socket: EngineSocket) -> None:
        """An Engine.IO session opened."""
        parser = self.legacy_parser if socket.protocol == 3 else self._parser
        client = Client(self, socket, parser)
        self._clients[socket] = client
        client.open()

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        """An Engine.IO message arrived."""
        client = self._clients.get(socket)
        if client is not None:
            client.receive(data)

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        """An Engine.IO session closed."""
        client = self._clients.pop(socket, None)
        if client is not None:
            client.close(reason)

    # -- operations (loop thread only) -------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: NamespaceName = "/",
        to: Room | Iterable[Room] | None = None,
        skip_sid: Sid | Iterable[Sid] | None = None,
        callback: Handler | None = None,
        volatile: bool = False,
    ) -> None:
        """Send an event to one socket, to rooms (each recipient once), or to everyone.

        Args:
            event: the event name.
            args: its arguments (JSON values; bytes anywhere).
            namespace: the namespace.
            to: a socket id or room, several of them, or None for every socket.
            skip_sid: a socket id (or several) not to send to.
            callback: called (through the invoker) with the arguments of each
                recipient's acknowledgement.
            volatile: the event may be dropped for clients that read too slowly.

        Raises:
            ConfigurationError: a reserved event name, or arguments that cannot be encoded.
        """
        if event in RESERVED_EVENTS:
            raise ConfigurationError(f"{event!r} is a reserved event name")
        if self.log_events:
            logger.info('emitting event "%s" to %s [%s]', event, to or "all", namespace)
        data = [event, *args]
        recovery = self.recovery
        direct = True
        if recovery is not None and callback is None and not volatile:
            # Kept for clients that come back, with its offset as the last argument.
            recovery.record(namespace, data, _room_set(to), _room_set(skip_sid))
            direct = not recovery.delivers
        nsp = self.namespaces.get(namespace)
        if direct and nsp is not None and isinstance(to, str):
            socket = nsp.sockets.get(to)
            if socket is not None:
                # One local recipient: a dict lookup and one encode, no adapter.
                if skip_sid is not None and (
                    to == skip_sid if isinstance(skip_sid, str) else to in skip_sid
                ):
                    return
                ack_id = nsp.next_ack_id() if callback is not None else None
                if ack_id is not None:
                    socket.add_ack(ack_id, PendingAck(event, callback=callback))
                self._write_event(socket, namespace, event, args, data, ack_id, volatile)
                return
        opts = BroadcastOptions(_room_set(to), _room_set(skip_sid), volatile)
        if callback is None:
            self.adapter.broadcast(namespace, Packet(PacketType.EVENT, namespace, data), opts)
        elif nsp is not None:
            ack_id = nsp.next_ack_id()

            def expect_ack(socket: Socket) -> None:
                socket.add_ack(ack_id, PendingAck(event, callback=callback))

            packet = Packet(PacketType.EVENT, namespace, data, ack_id)
            self.adapter.broadcast_with_ack(namespace, packet, opts, expect_ack)
        told = self.emit_observer
        if told is not None:  # observe: one test per emit
            told(namespace, event, args, self.get_socket(to, namespace) if isinstance(to, str)
                 else None)  # fmt: skip
        else:
            names = self.emit_names
            if names is not None:  # observe: counted by name
                names[namespace].append(event)

    # -- AdapterHost -------------------------------------------------------------------

    def disconnect_socket(self, socket: Socket, close: bool) -> None:
        """Disconnect a socket of this server for the adapter (``close``: the whole session)."""
        if close:
            socket.eio.close(CloseReason.SERVER_DISCONNECT)
        else:
            socket.close(CloseReason.SERVER_DISCONNECT, notify=True)
