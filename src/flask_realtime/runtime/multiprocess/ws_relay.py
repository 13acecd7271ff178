"""Relaying a WebSocket to the server that owns its session, on another machine.

On one machine a WebSocket upgrade for another worker's session moves to it whole
(``handoff.py``). A connection cannot move to another machine, nor out of the process that
did its TLS handshake; there the server the upgrade reached relays it, as Node's
``@socket.io/cluster-engine`` does, over the message queue (``relay_wire.py`` says what
travels):

1. it checks the handshake (RFC 6455) and asks the owner (OPEN), reading nothing more;
2. the owner vets the upgrade as if the request were its own and answers (ANSWER): with
   a refusal, the relay writes it as the HTTP response; else the relay writes the ``101``
   and the owner's session sees a :class:`~..engineio.remote_websocket.RemoteWebSocket`;
3. from then on the relay parses the client's frames (``websockets``' sans-I/O protocol,
   messages up to ``max_http_buffer_size``: it answers pings and closes itself) and
   publishes whole messages to the owner (IN), and writes what the owner sends (OUT) as
   frames. The probe, the upgrade and the heartbeat are the owner's: the relay does not
   read the packets.

Either side's end closes the other: the client's close or a lost connection is told to the
owner (CLOSE_IN, an error or not), the owner's close closes the WebSocket (CLOSE_OUT). A
relay whose owner is gone (a publish that nobody receives) or silent for longer than
``ping_interval + ping_timeout`` (the owner pings through it) closes its client, which
reconnects.

Bounds: the client's messages are cut at ``max_http_buffer_size`` and at
``MAX_FRAGMENTS`` pieces; a client that does not read is dropped past ``max_ws_buffer``
bytes unwritten, as a local one; while the bus has more than ``BACKLOG_HIGH`` bytes
waiting, or the owner's session asks so (FLOW), the relay stops reading its clients.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ...engine import EngineResponse
from ..engineio.endpoint import handshake_problem
from ..engineio.front import from_http
from ..engineio.relay_wire import EVERY_PEER, RelayBus, RelayKind, payloads_of
from .relayed_websocket import RelayedWebSocket

if TYPE_CHECKING:
    from ..engineio.endpoint import EngineIOEndpoint
    from ..http.messages import Request

__all__ = ["BACKLOG_HIGH", "WebSocketRelay"]

logger = logging.getLogger(__name__)

BACKLOG_HIGH = 4 * 1024 * 1024
"""Bytes waiting on the bus past which the relays stop reading their clients (the bus
refuses more past its own limit: a client is then dropped)."""


class WebSocketRelay:
    """This process's relayed WebSockets (see the module docstring).

    Args:
        bus: the link to the other server processes.
        endpoint: this process's endpoint (its engine's limits and heartbeat).
    """

    def __init__(self, bus: RelayBus, endpoint: EngineIOEndpoint) -> None:
        options = endpoint.engine.options
        self.max_size = options.max_http_buffer_size
        self.max_buffer = endpoint.max_ws_buffer
        self.silence = options.ping_interval + options.ping_timeout
        self._bus = bus
        self._next_id = 0
        self._conns: dict[int, RelayedWebSocket] = {}

    def __len__(self) -> int:
        return len(self._conns)

    def protocol_for(self, owner: int, request: Request) -> asyncio.Protocol | EngineResponse:
        """The protocol that relays ``request``'s WebSocket to server ``owner``, or the
        refusal of a handshake that is not RFC 6455's."""
        engine_request = from_http(request)
        problem = handshake_problem(engine_request)
        if problem is not None:
            return problem
        self._next_id = conn_id = (self._next_id + 1) & 0xFFFFFFFF
        conn = RelayedWebSocket(self, owner, conn_id, engine_request)
        self._conns[conn_id] = conn
        return conn

    def relayed(self, kind: int, peer: int, conn_id: int, value: Any) -> None:
        """ANSWER, OUT, CLOSE_OUT or FLOW from the owner ``peer``."""
        conn = self._conns.get(conn_id)
        if conn is None or conn.owner != peer:
            return  # gone already (its close crossed this message)
        if kind == RelayKind.OUT:
            payloads = payloads_of(value)
            if payloads is None:
                logger.warning("a relayed WebSocket message that is not one, from %d", peer)
                conn.owner_closed(True)
            else:
                conn.write(payloads)
        elif kind == RelayKind.ANSWER:
            conn.answered(value)
        elif kind == RelayKind.CLOSE_OUT:
            conn.owner_closed(bool(value))
        elif kind == RelayKind.FLOW:
            conn.owner_flow(bool(value))

    def peer_gone(self, peer: int) -> None:
        """Server process ``peer`` is gone: so are its sessions; close their WebSockets."""
        for conn in list(self._conns.values()):
            if peer in (conn.owner, EVERY_PEER):
                conn.owner_closed(True)

    def close_all(self) -> None:
        """Shutdown: close every relayed WebSocket (the owners are told)."""
        for conn in list(self._conns.values()):
            conn.shut()

    # -- for RelayedWebSocket ----------------------------------------------------------------

    def send(self, kind: RelayKind, conn: RelayedWebSocket, value: Any) -> bool:
        return self._bus.relay(kind, conn.owner, conn.conn_id, value)

    @property
    def congested(self) -> bool:
        return self._bus.backlog > BACKLOG_HIGH

    def forget(self, conn: RelayedWebSocket) -> None:
        if self._conns.get(conn.conn_id) is conn:
            del self._conns[conn.conn_id]
