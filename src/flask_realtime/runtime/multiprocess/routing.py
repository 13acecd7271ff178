"""Session routing between worker processes: no sticky sessions needed.

Each worker's Engine.IO sids start with its index (``"2.Xk..."``, set on the engine by the
worker), so any worker knows from a request which worker owns its session. The index is
the worker's on one machine (forwarding over the workers' hub), or, with a Redis
``message_queue``, a number unique among the servers of every machine (forwarding over
Redis: ``adapters/bus_forwarding.py``).
:class:`SessionRouter` wraps a worker's endpoint; a request for a session of its own, or
with no sid (a handshake: this worker becomes the owner), goes to that endpoint as always.
For a session another worker owns:

- a **long-polling request** (GET or POST) is forwarded to the owner over the workers'
  hub (REQUEST), which answers it with its own endpoint, parking a GET until the session
  has data, and sends the response back (RESPONSE). If the client leaves while its GET is
  parked, the owner is told (CANCEL) so the session learns it, as if the client had been
  its own. This is what Node's ``@socket.io/cluster-engine`` does with its lock and drain
  messages, with the whole request as the unit: the owner's engine stays the one judge.
- a **WebSocket upgrade** moves the whole connection to the owner (``handoff.py``): from
  then on the owner serves it as its own, with no hop per frame. Over TLS, or to another
  machine, a connection cannot move; it is relayed instead (``ws_relay.py``: this
  worker keeps the socket, the owner's session gets its messages over the link, a
  :class:`~..engineio.remote_websocket.RemoteWebSocket`), over Redis between machines,
  over the hub between the TLS workers of one machine.

A worker that dies takes its sessions with it: requests forwarded to it end at once (the
hub says GONE; over Redis, nobody receives the request) with Engine.IO's "Session ID
unknown", and the clients reconnect. So does a sid naming no worker that can exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from ...engine import EngineRequest, EngineResponse
from ...engine.http import EngineError, error_response
from ..engineio.endpoint import EngineIOEndpoint
from ..engineio.front import from_http
from ..engineio.relay_wire import (
    RelayBus,
    RelayKind,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from ..engineio.remote_websocket import RemoteWebSockets
from ..http.messages import Request
from .handoff import ConnectionHandoff
from .ws_relay import WebSocketRelay

__all__ = ["Forwarder", "SessionRouter", "owner_of"]

logger = logging.getLogger(__name__)

EVERY_PEER = 0xFFFF
"""The peer of a GONE that means every other worker (the link to the hub closed)."""

FORWARD_TIMEOUT = 120.0
"""Seconds a forwarded request waits for its owner at most (a parked poll is answered
within ``ping_interval``; this only bounds a request lost with its owner's link)."""

Value = Any


class Forwarder(Protocol):
    """The workers' link as the routing uses it (``adapters/local.py`` ``LocalLink``)."""

    index: int

    async def connect(self) -> None: ...

    def request(self, peer: int, request_id: int, value: Value) -> bool: ...

    def respond(self, peer: int, request_id: int, value: Value) -> None: ...

    def cancel(self, peer: int, request_id: int) -> None: ...

    def on_forwarding(self, receiver: ForwardReceiver) -> None: ...

    async def shutdown(self) -> None: ...


class ForwardReceiver(Protocol):
    def forwarded_request(self, peer: int, request_id: int, value: Value) -> None: ...

    def forwarded_response(self, peer: int, request_id: int, value: Value) -> None: ...

    def forwarded_cancel(self, peer: int, request_id: int) -> None: ...

    def peer_gone(self, peer: int) -> None: ...


def owner_of(sid: str | None) -> int | None:
    """The worker index a sid names, or None (no sid, or one without an index)."""
    if not sid:
        return None
    index, dot, _ = sid.partition(".")
    if not dot or not (index.isascii() and index.isdigit()) or len(index) > 9:
        return None
    return int(index)


class SessionRouter:
    """Worker ``forwarder.index``'s Socket.IO endpoint (see the module docstring).

    Args:
        inner: the worker's own endpoint.
        forwarder: the link to the other workers (the hub), or to the other servers (the
            message queue: ``adapters/bus_forwarding.py``).
        handoff: hands connections to the other workers of this machine (None: there are
            none).
        tls: the server speaks TLS (connections cannot move).
    """

    def __init__(
        self,
        inner: EngineIOEndpoint,
        forwarder: Forwarder,
        handoff: ConnectionHandoff | None,
        *,
        tls: bool,
    ) -> None:
        self.inner = inner
        self.max_body_size = inner.max_body_size
        self.index = forwarder.index
        self._forwarder = forwarder
        self._handoff = handoff
        self._tls = tls
        self._next_id = 0
        self._waiting: dict[int, tuple[int, asyncio.Future[Value]]] = {}
        self._serving: dict[tuple[int, int], asyncio.Task[None]] = {}
        forwarder.on_forwarding(self)
        # WebSockets relayed over the bus, both ends: ours relayed to others' sessions,
        # and others' clients of our sessions.
        self._relay: WebSocketRelay | None = None
        self._remote: RemoteWebSockets | None = None
        if isinstance(forwarder, RelayBus):
            self._relay = WebSocketRelay(forwarder, inner)
            self._remote = RemoteWebSockets(inner, forwarder)
            forwarder.on_relay(self)

    # -- the Endpoint contract ----------------------------------------------------------

    def matches(self, path: str) -> bool:
        return self.inner.matches(path)

    def handle(self, request: Request) -> EngineResponse | Awaitable[EngineResponse]:
        owner = owner_of(_sid_of(request.query_string))
        if owner is None or owner == self.index:
            return self.inner.handle(request)
        return self._forward(owner, from_http(request))

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | EngineResponse:
        owner = owner_of(_sid_of(request.query_string))
        if owner is None or owner == self.index:
            return self.inner.upgrade(request, transport)
        handoff = self._handoff
        if not self._tls and handoff is not None and handoff.reaches(owner):
            return handoff.protocol_for(owner, _request_head(request))
        if self._relay is not None:
            return self._relay.protocol_for(owner, request)
        return error_response(
            EngineError.BAD_REQUEST,
            "this session belongs to another server process, and this connection "
            "cannot move there (TLS, or another machine): the session goes on over "
            "long-polling",
        )

    async def shutdown(self) -> None:
        if self._relay is not None:
            self._relay.close_all()
        # The sessions of the WebSockets others relay for us close with the rest (their
        # close packet travels on the bus, which stops last).
        await self.inner.shutdown()
        for task in list(self._serving.values()):
            task.cancel()
        await self._forwarder.shutdown()

    # -- forwarding our clients' requests ------------------------------------------------

    async def _forward(self, owner: int, request: EngineRequest) -> EngineResponse:
        self._next_id = request_id = (self._next_id + 1) & 0xFFFFFFFF
        future: asyncio.Future[Value] = asyncio.get_running_loop().create_future()
        if not self._forwarder.request(owner, request_id, encode_request(request)):
            return error_response(EngineError.UNKNOWN_SID)  # no other worker is reachable
        self._waiting[request_id] = (owner, future)
        try:
            value = await asyncio.wait_for(future, FORWARD_TIMEOUT)
        except asyncio.CancelledError:
            # Our client left (its poll was parked at the owner): tell the owner.
            if self._waiting.pop(request_id, None) is not None:
                self._forwarder.cancel(owner, request_id)
            raise
        except TimeoutError:
            logger.warning("worker %d did not answer a forwarded request in time", owner)
            value = None
        finally:
            self._waiting.pop(request_id, None)
        response = decode_response(value)
        if response is None:
            return error_response(EngineError.UNKNOWN_SID)
        return response

    def forwarded_response(self, peer: int, request_id: int, value: Value) -> None:
        waiting = self._waiting.get(request_id)
        if waiting is None or waiting[0] != peer:
            return  # late (the client left) or not from the owner asked: not ours to end
        del self._waiting[request_id]
        if not waiting[1].done():
            waiting[1].set_result(value)

    def peer_gone(self, peer: int) -> None:
        """Worker ``peer`` left (or, for ``ALL``, the hub did): its sessions are gone."""
        for request_id, (owner, future) in list(self._waiting.items()):
            if peer in (owner, EVERY_PEER) and not future.done():
                del self._waiting[request_id]
                future.set_result(None)
        for key, task in list(self._serving.items()):
            if peer in (key[0], EVERY_PEER):
                task.cancel()

    # -- relayed WebSockets (the RelayReceiver of the bus) --------------------------------

    def relayed(self, kind: int, peer: int, conn_id: int, value: Value) -> None:
        """A relayed WebSocket's message from server ``peer``: to the relay end (ours are
        relayed to ``peer``) or the owner end (``peer`` relays a client of ours)."""
        relay, remote = self._relay, self._remote
        if relay is None or remote is None:
            return
        if kind == RelayKind.OPEN:
            request = decode_request(value)
            if request is None:
                logger.warning("a relayed WebSocket upgrade that is not one, from %d", peer)
                return
            self.inner.timer.bind()
            remote.open(peer, conn_id, request)
        elif kind in (RelayKind.IN, RelayKind.CLOSE_IN):
            remote.relayed(kind, peer, conn_id, value)
        else:
            relay.relayed(kind, peer, conn_id, value)

    def relay_peer_gone(self, peer: int) -> None:
        """Server ``peer`` is gone: the WebSockets relayed to it or by it close."""
        if self._relay is not None:
            self._relay.peer_gone(peer)
        if self._remote is not None:
            self._remote.peer_gone(peer)

    # -- serving the requests others forward to us ---------------------------------------

    def forwarded_request(self, peer: int, request_id: int, value: Value) -> None:
        request = decode_request(value)
        key = (peer, request_id)
        if request is None:
            self._forwarder.respond(peer, request_id, None)
            return
        task = asyncio.get_running_loop().create_task(self._serve(peer, request_id, request))
        self._serving[key] = task
        task.add_done_callback(lambda _: self._serving.pop(key, None))

    def forwarded_cancel(self, peer: int, request_id: int) -> None:
        task = self._serving.get((peer, request_id))
        if task is not None:
            task.cancel()

    async def _serve(self, peer: int, request_id: int, request: EngineRequest) -> None:
        try:
            response = await self.inner.answer(request)
        except asyncio.CancelledError:
            return  # its client left (answer() told the session) or we stop
        except Exception:
            logger.exception("error in a forwarded request from worker %d", peer)
            response = error_response(500, "server error")
        if response is not None:
            self._forwarder.respond(peer, request_id, encode_response(response))


def _sid_of(query_string: str) -> str | None:
    """The ``sid`` parameter of a query string, read without parsing the whole query."""
    for part in query_string.split("&"):
        if part.startswith("sid="):
            return part[4:]
    return None


def _request_head(request: Request) -> bytes:
    """The request's head again, as the owner's HTTP layer will parse it."""
    target = request.path + ("?" + request.query_string if request.query_string else "")
    lines = [f"{request.method} {target} HTTP/{request.http_version}"]
    lines.extend(f"{name}: {value}" for name, value in request.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
