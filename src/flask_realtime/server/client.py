"""One Engine.IO connection as the Socket.IO layer sees it (Node's ``Client``).

A client decodes the connection's messages into packets and routes them: CONNECT to the
namespace it names, everything else to the socket of that namespace. It also enforces
the connect timeout: a connection that joins no namespace in time is closed.

Misbehaviour ends the connection and nothing else: a malformed packet (the decoder's
:class:`~flask_realtime.exceptions.ProtocolError`), a CONNECT to a namespace the client is
already in, or a CONNECT_ERROR from the client, close it with
:attr:`~flask_realtime.engine.socket.CloseReason.TRANSPORT_ERROR` (Node says "parse
error"; ours is the nearest of the reasons the disconnect handlers know). Packets for a
namespace the client is not in are dropped: they may cross a server-side disconnect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from flask_realtime.deadlines import Deadline, Deadlines
from flask_realtime.engine.engine_server import new_sid
from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineSocket
from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server.adapter import Adapter
from flask_realtime.server.client_limits import (
    ConnectionRateLimit,
    RatePolicy,
    over_connection_rate,
)
from flask_realtime.server.live_namespaces import LiveNamespace, NamespaceTable
from flask_realtime.server.recovery import Restored
from flask_realtime.server.socket import Socket, SocketServer
from flask_realtime.typing import NamespaceName

if TYPE_CHECKING:
    from flask_realtime.protocol.parsers import Decoder, Parser

__all__ = ["Client", "ClientServer", "new_sid"]

# Plain names for the per-packet checks (an enum's attribute costs about 1k instructions).
_CONNECT = PacketType.CONNECT
_CONNECT_ERROR = PacketType.CONNECT_ERROR

logger = logging.getLogger(__name__)

INVALID_NAMESPACE = "Invalid namespace"
TOO_MANY_NAMESPACES = "Too many namespaces"


def query_auth(query: str | None) -> dict[str, Any] | None:
    """The auth of a socket.io 2.x CONNECT: its namespace's query, parsed (as Node does).

    A key given once maps to a string, a repeated key to the list of its values.
    """
    if query is None:
        return None
    parsed = parse_qs(query, keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}


class ClientServer(SocketServer, Protocol):
    """What a client uses of the server (:class:`~.socketio_server.SocketIOServer`), which
    makes clients: what its sockets use, and the connect timeout's clock, the namespaces
    to resolve and the adapter to add sockets to."""

    connect_timeout: float | None
    max_namespaces: int
    connection_rate: tuple[float | None, float | None, RatePolicy] | None
    """Packets/s, bytes/s and the policy past them (``client_limits.py``), or None."""
    deadlines: Deadlines
    clock: Callable[[], float]

    @property
    def adapter(self) -> Adapter: ...

    @property
    def namespaces(self) -> NamespaceTable: ...


class Client:
    """The Socket.IO side of one Engine.IO session.

    Attributes:
        server: the server.
        eio: the Engine.IO session.
        parser: the parser for this connection (the legacy one for Engine.IO v3 clients).
        sockets: the sockets of this connection, by namespace.
    """

    __slots__ = (
        "_connect_timer", "_data", "_feed_event", "_restoring", "decoder", "eio", "parser",
        "rate", "server", "sockets",
    )  # fmt: skip

    def __init__(self, server: ClientServer, eio: EngineSocket, parser: Parser) -> None:
        self.server = server
        self.eio = eio
        self.parser = parser
        self.decoder: Decoder = parser.decoder()
        # The decoder's way for the common EVENT without a Packet, when it has one: its
        # class's function (shared), not a bound method (one more object per connection
        # for the collector to walk).
        self._feed_event: Callable[[Any, str], tuple[list[Any], int | None] | None] | None = (
            getattr(type(self.decoder), "feed_event", None)
        )
        self.sockets: dict[NamespaceName, Socket] = {}
        self._connect_timer: Deadline | None = None
        self._data: dict[str, Any] | None = None
        self._restoring: set[NamespaceName] | None = None  # CONNECTs waiting for a session
        rates = server.connection_rate
        self.rate = None if rates is None else ConnectionRateLimit(*rates, time.monotonic())

    @property
    def data(self) -> dict[str, Any]:
        """Free-form per-connection state for the layers above (created on first use)."""
        data = self._data
        if data is None:
            data = self._data = {}
        return data

    def open(self) -> None:
        """The session is open: start the connect timeout; join "/" for v3 clients."""
        timeout = self.server.connect_timeout
        if timeout is not None and timeout > 0:
            server = self.server
            self._connect_timer = server.deadlines.call_at(
                server.clock() + timeout, self._connect_timed_out
            )
        if self.eio.protocol == 3:
            # v4 "Connection to the default namespace": the server connects it unasked.
            self.connect("/", None)

    def _connect_timed_out(self, now: float) -> None:
        self._connect_timer = None
        logger.info("closing %s: no namespace joined in time", self.eio.sid)
        self.eio.close(CloseReason.SERVER_DISCONNECT)

    def socket_connected(self, socket: Socket) -> None:
        """A socket of this connection was accepted: the connect timeout is over."""
        timer = self._connect_timer
        if timer is not None:
            self._connect_timer = None
            timer.drop()  # the heap may keep it a while: not this client with it

    def receive(self, data: str | bytes) -> None:
        """Take one Engine.IO message."""
        rate = self.rate
        if rate is not None:
            rate.charge_bytes(len(data))
        feed_event = self._feed_event
        if feed_event is not None and type(data) is str:
            # The common case: an EVENT in "/", handed to its socket without a Packet.
            try:
                event = feed_event(self.decoder, data)
            except ProtocolError as exc:
                self._violation(f"invalid packet: {exc}")
                return
            if event is not None:
                if rate is not None and not self._within_rate(rate):
                    return
                socket = self.sockets.get("/")
                if socket is None:
                    logger.debug("%s is not in /, dropping %r", self.eio.sid, event[0][0])
                else:
                    socket.on_event(event[0], event[1])
                return
        try:
            packet = self.decoder.feed(data)
        except ProtocolError as exc:
            self._violation(f"invalid packet: {exc}")
            return
        if packet is None:
            return  # a binary packet waits for its attachments
        if rate is not None and not self._within_rate(rate):
            return
        packet_type = packet.type
        if packet_type is _CONNECT:
            name = packet.namespace
            if name in self.sockets or (self._restoring and name in self._restoring):
                self._violation(f"second CONNECT to {name}")
                return
            auth = query_auth(packet.query) if self.eio.protocol == 3 else packet.data
            self.connect(name, auth)
        elif packet_type is _CONNECT_ERROR:
            self._violation("CONNECT_ERROR sent by a client")
        else:
            socket = self.sockets.get(packet.namespace)
            if socket is None:
                logger.debug("%s is not in %s, dropping %r", self.eio.sid, packet.namespace, packet)
            else:
                socket.on_packet(packet)

    def connect(self, name: NamespaceName, auth: Any) -> None:
        """Join namespace ``name``, if it exists or may be created."""
        server = self.server
        if len(self.sockets) + len(self._restoring or ()) >= server.max_namespaces:
            # Checked before the name is resolved: a client trying thousands of dynamic
            # names creates nothing past the limit.
            logger.info("%s: refusing %s, over %d namespaces", self.eio.sid, name,
                        server.max_namespaces)  # fmt: skip
            self._refuse(name, TOO_MANY_NAMESPACES)
            return
        nsp = server.namespaces.resolve(name, auth)
        if nsp is None:
            # Node: ``44/name,{"message":"Invalid namespace"}`` (v4: the bare string).
            self._refuse(name, INVALID_NAMESPACE)
            return
        recovery = server.recovery
        if recovery is not None and type(auth) is dict:
            pid, offset = auth.get("pid"), auth.get("offset")
            if isinstance(pid, str) and isinstance(offset, str):
                # The session may be in a broker: the socket is made when it answers.
                restoring = self._restoring
                if restoring is None:
                    restoring = self._restoring = set()
                restoring.add(name)
                recovery.restore(name, pid, offset, partial(self._restored, name, auth))
                return
        self._join(nsp, auth, None)

    def _restored(self, name: NamespaceName, auth: Any, restored: Restored) -> None:
        """The recovery backend answered a CONNECT with ``pid`` and ``offset``."""
        restoring = self._restoring
        if restoring is not None:
            restoring.discard(name)
        if self.eio.closed or name in self.sockets:
            left = self.server.namespaces.get(name)
            if left is not None:
                self.server.namespaces.release(left)  # a dynamic one made for the CONNECT
            return  # the client left meanwhile
        nsp = self.server.namespaces.resolve(name, auth)
        if nsp is None:
            self._refuse(name, INVALID_NAMESPACE)
            return
        if restored is not None and restored[0].sid in nsp.sockets:
            restored = None  # its sid is in use again: a new session, then
        self._join(nsp, auth, restored)

    def _join(self, nsp: LiveNamespace, auth: Any, restored: Restored) -> None:
        """Make the socket of ``nsp`` (a new session, or a restored one) and open it."""
        server = self.server
        name = nsp.name
        recovery = server.recovery
        if restored is None:
            sid = new_sid()
            socket = Socket(self, nsp, sid)
            rooms: tuple[str, ...] = (sid,)
            if recovery is not None and self.eio.protocol != 3:
                socket.pid = new_sid()
        else:
            session, missed = restored
            sid = session.sid
            socket = Socket(self, nsp, sid)
            rooms = session.rooms or (sid,)
        if restored is not None:
            logger.debug("%s recovered its session in %s with %d missed events", sid, name,
                         len(missed))  # fmt: skip
            socket.resume(session, missed)
        self.sockets[name] = socket
        nsp.sockets[sid] = socket
        for room in rooms:
            server.adapter.add(socket, room)
        socket.open(auth)

    def _refuse(self, name: NamespaceName, message: str) -> None:
        """Answer a CONNECT with CONNECT_ERROR ``message`` (v4 clients: the bare string)."""
        data: object = message if self.eio.protocol == 3 else {"message": message}
        for piece in self.parser.encode(Packet(PacketType.CONNECT_ERROR, name, data)):
            self.eio.send(OutgoingMessage(piece))

    def forget(self, socket: Socket) -> None:
        """A socket left its namespace: packets for that namespace are dropped from now on."""
        name = socket.nsp.name
        if self.sockets.get(name) is socket:
            del self.sockets[name]

    def close(self, reason: CloseReason) -> None:
        """The session closed: every socket leaves, with ``reason``."""
        timer = self._connect_timer
        if timer is not None:
            self._connect_timer = None
            timer.drop()
        for socket in list(self.sockets.values()):
            socket.close(reason, notify=False)

    def _within_rate(self, rate: ConnectionRateLimit) -> bool:
        """Whether a complete packet goes on, by the connection's rate limit and policy."""
        over = rate.admit(time.monotonic())
        if over is None:
            return True
        policy = rate.policy
        over_connection_rate(self.eio.sid, over, policy)
        if policy is RatePolicy.DISCONNECT:
            for socket in list(self.sockets.values()):
                socket.close(CloseReason.SERVER_DISCONNECT, notify=True)
            self.eio.close(CloseReason.SERVER_DISCONNECT)
            return False
        return policy is RatePolicy.WARN

    def _violation(self, what: str) -> None:
        logger.info("closing %s: %s", self.eio.sid, what)
        self.eio.close(CloseReason.TRANSPORT_ERROR)

    def __repr__(self) -> str:
        return f"<Client {self.eio.sid} namespaces={list(self.sockets)}>"
