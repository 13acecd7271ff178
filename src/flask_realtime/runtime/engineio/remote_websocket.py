"""The owner's side of a WebSocket relayed by another server: a transport over the bus.

A client's WebSocket upgrade that reached a server on another machine is accepted there
(``runtime/multiprocess/ws_relay.py``); that server carries its messages here, and ours
back, over the message queue (``relay_wire.py`` says what travels). Here the session sees
a :class:`RemoteWebSocket`: one more sink of :class:`~.wstransport.WebSocketTransport`,
fed the client's messages in the order it sent them (the probe ``2probe``, the ``5``
that ends the upgrade, then its packets) by the same ``_receive`` as a WebSocket of our
own, so the engine's upgrade, heartbeat and close rules apply unchanged.

What a session sends in one loop tick goes to the relay as one bus message (the write
coalescer's tick, as a local WebSocket joins its writes). Bounds: a tick's messages past
``max_ws_buffer`` bytes, or a bus that takes no more, drop the client as a local client
that does not read is dropped (the relay enforces its own socket's buffer too). When the
session's handlers fall behind, the relay is asked to stop reading the client (FLOW).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from ...engine import EngineRequest, EngineResponse, EngineServer, EngineSocket
from ...engine.http import EngineError, error_response
from ...engine.transport import Outgoing, Transport
from .relay_wire import EVERY_PEER, RelayBus, RelayKind, encode_response, payloads_of
from .wstransport import WebSocketTransport, WsState, ws_payload

__all__ = ["RemoteWebSocket", "RemoteWebSockets"]

logger = logging.getLogger(__name__)

_OPEN = WsState.OPEN


class RemoteHost(Protocol):
    """What the remote WebSockets use of the owner's endpoint (``EngineIOEndpoint``)."""

    @property
    def engine(self) -> EngineServer: ...

    @property
    def max_ws_buffer(self) -> int: ...

    def now(self) -> float: ...

    def attach(
        self, transport: Transport, request: EngineRequest, upgrade_of: EngineSocket | None
    ) -> EngineSocket | None: ...


class RemoteWebSocket(WebSocketTransport):
    """A session's WebSocket whose socket is on server process ``peer`` (its relay
    connection ``conn_id``)."""

    __slots__ = ("_ends", "_held", "_held_size", "conn_id", "peer")

    def __init__(
        self,
        ends: RemoteWebSockets,
        peer: int,
        conn_id: int,
        protocol: int,
        remote_addr: tuple[str, int] | None,
    ) -> None:
        super().__init__(protocol, remote_addr, WsState.OPEN)
        self._ends = ends
        self.peer = peer
        self.conn_id = conn_id
        self._held: list[str | bytes] = []
        self._held_size = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes sent in this tick and not yet on the bus (read by the metrics)."""
        return self._held_size

    # -- Transport ---------------------------------------------------------------------------

    def send(self, items: Sequence[Outgoing]) -> None:
        if self._state is not _OPEN:
            return
        held = self._held
        first = not held
        for item in items:
            payload = ws_payload(item, self._protocol)
            held.append(payload)
            self._held_size += len(payload)
        if self._held_size > self._ends.max_buffer:
            self._shed((), True)
        elif first and held:
            self._ends.mark(self)

    def end_tick(self) -> None:
        """The loop tick ended: what it sent goes to the relay, as one bus message."""
        held = self._held
        if not held or self._state is not _OPEN:
            return
        self._held, self._held_size = [], 0
        if not self._ends.send(RelayKind.OUT, self, held):
            self._shed((), True)  # the bus takes no more: as a client that does not read

    def pause_input(self, paused: bool) -> None:
        if self._state is _OPEN:
            self._ends.send(RelayKind.FLOW, self, paused)

    def close(self, *, noop: bool = False) -> None:
        if self._state is not _OPEN:
            return
        self.end_tick()
        self._move(WsState.CLOSING)
        self._ends.send(RelayKind.CLOSE_OUT, self, False)
        self._ends.forget(self)
        asyncio.get_running_loop().call_soon(self._gone, False)

    def _overflow(self) -> None:
        self._held, self._held_size = [], 0
        self._ends.send(RelayKind.CLOSE_OUT, self, True)
        self._ends.forget(self)
        # The session learns it on the next loop turn, not inside its own send().
        asyncio.get_running_loop().call_soon(self._gone, True)

    # -- what the relay sends --------------------------------------------------------------

    def received(self, payloads: list[str | bytes], now: float) -> None:
        """The client's messages, in order."""
        for data in payloads:
            if self._state is not _OPEN:
                return
            if not self._receive(data, now):
                self._fail()
                return

    def relay_closed(self, error: bool) -> None:
        """The client's WebSocket is gone (or its relay is)."""
        self._ends.forget(self)
        if self._state is _OPEN or self._state is WsState.CLOSING:
            self._gone(error)

    def _fail(self) -> None:
        """The client broke the protocol: close its WebSocket, and the session."""
        self._held, self._held_size = [], 0
        self._move(WsState.FAILED)
        self._ends.send(RelayKind.CLOSE_OUT, self, True)
        self._ends.forget(self)
        self._end_session()
        self._gone(True)

    def _peer(self) -> str:
        return f"{super()._peer()} (relayed by server {self.peer})"


class RemoteWebSockets:
    """The WebSockets of this process's sessions that other servers relay (see the module
    docstring): opened on OPEN, fed on IN, closed on CLOSE_IN or when their relay's
    process is gone.

    Args:
        host: this process's endpoint (the engine, and the binding to a session).
        bus: the link to the other server processes.
    """

    def __init__(self, host: RemoteHost, bus: RelayBus) -> None:
        self._host = host
        self._bus = bus
        self.max_buffer = host.max_ws_buffer
        self._open: dict[tuple[int, int], RemoteWebSocket] = {}
        self._marked: list[RemoteWebSocket] = []

    def __len__(self) -> int:
        return len(self._open)

    def open(self, peer: int, conn_id: int, request: EngineRequest) -> None:
        """Server ``peer`` accepted, if we agree, an upgrade for one of our sessions."""
        host = self._host
        checked = host.engine.check_websocket(request)
        if checked is None:  # a WebSocket-only client opens its session where it lands
            checked = error_response(EngineError.BAD_REQUEST, "Bad request")
        if isinstance(checked, EngineResponse):
            self._bus.relay(RelayKind.ANSWER, peer, conn_id, encode_response(checked))
            return
        if (peer, conn_id) in self._open:
            return  # the same OPEN twice: the first one stands
        transport = RemoteWebSocket(
            self, peer, conn_id, checked.protocol, request.remote_addr
        )  # fmt: skip
        if not self._bus.relay(RelayKind.ANSWER, peer, conn_id, None):
            return  # the relay hears nothing and gives up in time
        self._open[(peer, conn_id)] = transport
        transport.session = host.attach(transport, request, checked)
        if transport.session is None:  # cannot upgrade now: as Node, accepted then closed
            transport.close()

    def relayed(self, kind: int, peer: int, conn_id: int, value: Any) -> None:
        """IN or CLOSE_IN from server ``peer``."""
        transport = self._open.get((peer, conn_id))
        if transport is None:
            if kind == RelayKind.IN:  # the client's messages after we closed it: tell again
                self._bus.relay(RelayKind.CLOSE_OUT, peer, conn_id, False)
            return
        if kind == RelayKind.IN:
            payloads = payloads_of(value)
            if payloads is None:
                logger.warning("a relayed WebSocket message that is not one, from %d", peer)
                transport.relay_closed(True)
                return
            transport.received(payloads, self._host.now())
        elif kind == RelayKind.CLOSE_IN:
            transport.relay_closed(bool(value))

    def peer_gone(self, peer: int) -> None:
        """Server process ``peer`` is gone: so are the client sockets it relayed."""
        for key, transport in list(self._open.items()):
            if peer in (key[0], EVERY_PEER):
                transport.relay_closed(True)

    # -- for RemoteWebSocket -------------------------------------------------------------

    def send(self, kind: RelayKind, transport: RemoteWebSocket, value: Any) -> bool:
        return self._bus.relay(kind, transport.peer, transport.conn_id, value)

    def forget(self, transport: RemoteWebSocket) -> None:
        key = (transport.peer, transport.conn_id)
        if self._open.get(key) is transport:
            del self._open[key]

    def mark(self, transport: RemoteWebSocket) -> None:
        """``transport`` holds messages: send them when this loop tick ends."""
        marked = self._marked
        marked.append(transport)
        if len(marked) == 1:
            asyncio.get_running_loop().call_soon(self._end_tick)

    def _end_tick(self) -> None:
        marked, self._marked = self._marked, []
        for transport in marked:
            transport.end_tick()
