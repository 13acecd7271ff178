"""The local cluster: the workers of ``socketio.run(app, workers=N)`` without a broker.

:class:`LocalLink` is a worker's connection to its supervisor's hub
(:mod:`flask_realtime.adapters.local_hub`): it sends frames
(:mod:`flask_realtime.adapters.local_wire`) and hands what arrives to whoever subscribed to
that kind of frame. Two parts of a worker use it: :class:`LocalAdapter`, the cluster
adapter of an app that has no ``message_queue`` (broadcasts, rooms, ``fetch_sockets``,
``server_side_emit``, broadcast acks reach every worker), and the session routing of the
runtime (``runtime/multiprocess/routing.py``), which forwards a long-polling request to the
worker that owns its session.

The adapter is the cluster model of ``server/cluster_adapter.py`` over the link: a message
to all goes to every other worker, a response to the requester only (its uid starts with
its worker index). Other workers are counted by the model's heartbeats, and forgotten at
once when the hub says one left (GONE), so a request never waits for a dead worker.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol, cast

from flask_realtime.adapters.local_wire import (
    ALL,
    ASSIGN,
    ID_SIZE,
    MAX_INDEX,
    RELAY_KINDS,
    FrameKind,
    FrameReader,
    decode_message,
    decode_value,
    encode_message,
    encode_value,
    frame,
    read_id,
    with_id,
)
from flask_realtime.exceptions import BrokerUnavailableError, ProtocolError
from flask_realtime.server.cluster_adapter import ClusterAdapter, ClusterMessage
from flask_realtime.server.cluster_requests import new_id

__all__ = ["LocalAdapter", "LocalLink"]

logger = logging.getLogger(__name__)

FrameHandler = Callable[[int, bytes], None]
"""Receives ``(peer, body)`` of one frame kind."""


class ForwardReceiver(Protocol):
    """Who serves forwarded requests and their answers (the runtime's session routing)."""

    def forwarded_request(self, peer: int, request_id: int, value: Any) -> None: ...

    def forwarded_response(self, peer: int, request_id: int, value: Any) -> None: ...

    def forwarded_cancel(self, peer: int, request_id: int) -> None: ...

    def peer_gone(self, peer: int) -> None: ...


class RelayReceiver(Protocol):
    """Who handles the relayed WebSockets' frames (the session routing)."""

    def relayed(self, kind: int, peer: int, conn_id: int, value: Any) -> None: ...

    def relay_peer_gone(self, peer: int) -> None: ...


class LocalLink(asyncio.Protocol):
    """Worker ``index``'s connection to the hub at ``path`` (see the module docstring).

    Everything runs on the worker's loop. :meth:`connect` is idempotent, so the adapter
    and the session routing may both call it. A worker with no index of its own gets one
    from the hub first (:meth:`join`).
    """

    def __init__(self, path: str, index: int) -> None:
        self.path = path
        self.index = index
        self._handlers: dict[int, list[FrameHandler]] = {}
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._joined: socket.socket | None = None
        self._early: list[tuple[int, int, bytes]] = []
        self.lost = False
        """The hub went away (the supervisor died): nothing reaches the other workers."""

    @classmethod
    def join(cls, path: str, timeout: float = 10.0) -> LocalLink:
        """A link to the hub at ``path`` under an index the hub gives (blocking: called
        before the worker's loop runs, so that the index is known before its first
        session). :meth:`connect` then serves the same connection on the loop.

        Raises:
            BrokerUnavailableError: the hub cannot be reached or gives no index.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        reader = FrameReader()
        frames: list[tuple[int, int, bytes]] = []
        try:
            sock.connect(path)
            sock.sendall(frame(FrameKind.HELLO, ASSIGN))
            while not frames:
                data = sock.recv(65536)
                if not data:
                    raise OSError("the hub closed the connection")
                frames = reader.feed(data)
            if frames[0][0] != FrameKind.HELLO:
                raise ProtocolError("the hub did not answer hello first")
        except (OSError, ProtocolError) as exc:
            sock.close()
            raise BrokerUnavailableError(f"cannot join the workers' hub at {path}: {exc}") from None
        link = cls(path, frames[0][1])
        link._joined, link._reader, link._early = sock, reader, frames[1:]
        return link

    def subscribe(self, kind: int, handler: FrameHandler) -> None:
        """Call ``handler(peer, body)`` for every frame of ``kind``."""
        self._handlers.setdefault(kind, []).append(handler)

    async def connect(self) -> None:
        """Connect to the hub and say hello (once; later calls wait for the first).

        Raises:
            BrokerUnavailableError: the hub's socket cannot be reached.
        """
        if self._connecting is None:
            loop = asyncio.get_running_loop()
            self._connecting = loop.create_future()
            try:
                if self._joined is not None:
                    await loop.create_unix_connection(lambda: self, sock=self._joined)
                else:
                    await loop.create_unix_connection(lambda: self, self.path)
            except OSError as exc:
                self._connecting.set_exception(
                    BrokerUnavailableError(f"cannot reach the workers' hub at {self.path}: {exc}")
                )
            else:
                self._connecting.set_result(None)
        await asyncio.shield(self._connecting)

    def send(self, kind: FrameKind, peer: int, body: bytes = b"") -> None:
        """Send one frame (fire and forget; dropped when the hub is gone)."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(frame(kind, peer, body))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        elif self._joined is not None:
            self._joined.close()

    async def shutdown(self) -> None:
        """The server stops serving: nothing to do, the link outlives it (the worker closes
        it last)."""

    # -- forwarded requests (the session routing) -----------------------------------------

    def request(self, peer: int, request_id: int, value: Any) -> bool:
        """Forward a request to worker ``peer``; whether it left (not when the hub is gone
        or not reached yet, nor for an index no worker can have: then no answer will
        come)."""
        transport = self._transport
        if transport is None or transport.is_closing() or not 0 <= peer <= MAX_INDEX:
            return False
        transport.write(frame(FrameKind.REQUEST, peer, encode_value(value, with_id(request_id))))
        return True

    def respond(self, peer: int, request_id: int, value: Any) -> None:
        """Answer worker ``peer``'s request ``request_id``."""
        self.send(FrameKind.RESPONSE, peer, encode_value(value, with_id(request_id)))

    def cancel(self, peer: int, request_id: int) -> None:
        """Tell worker ``peer`` that request ``request_id``'s client left."""
        self.send(FrameKind.CANCEL, peer, with_id(request_id))

    def on_forwarding(self, receiver: ForwardReceiver) -> None:
        """Hand forwarded requests, answers, cancels and departures to ``receiver``. A body
        that cannot be read arrives as ``None`` (answered, or ending the wait, as unknown)."""
        self.subscribe(
            FrameKind.REQUEST,
            lambda peer, body: receiver.forwarded_request(peer, read_id(body), _value(body)),
        )
        self.subscribe(
            FrameKind.RESPONSE,
            lambda peer, body: receiver.forwarded_response(peer, read_id(body), _value(body)),
        )
        self.subscribe(
            FrameKind.CANCEL, lambda peer, body: receiver.forwarded_cancel(peer, read_id(body))
        )
        self.subscribe(FrameKind.GONE, lambda peer, body: receiver.peer_gone(peer))

    # -- relayed WebSockets (the session routing, over TLS) -------------------------------

    @property
    def backlog(self) -> int:
        """Bytes written to the hub and not sent yet."""
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def relay(self, kind: int, peer: int, conn_id: int, value: Any) -> bool:
        """Send a relayed WebSocket's message (``kind`` in ``RELAY_KINDS``) to worker
        ``peer``; False when the hub is out of reach."""
        transport = self._transport
        if transport is None or transport.is_closing() or not 0 <= peer <= MAX_INDEX:
            return False
        transport.write(frame(kind, peer, encode_value(value, with_id(conn_id))))
        return True

    def on_relay(self, receiver: RelayReceiver) -> None:
        """Hand the relayed WebSockets' frames, and departures, to ``receiver``."""

        def handler(kind: int) -> FrameHandler:
            return lambda peer, body: receiver.relayed(kind, peer, read_id(body), _value(body))

        for kind in RELAY_KINDS:
            self.subscribe(kind, handler(kind))
        self.subscribe(FrameKind.GONE, lambda peer, body: receiver.relay_peer_gone(peer))

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._joined is None:
            self._transport.write(frame(FrameKind.HELLO, self.index))
        early, self._early = self._early, []
        self._deliver(early)  # what the hub sent right after its answer to join()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except ProtocolError as exc:
            logger.error("worker %d: bad frame from the hub: %s", self.index, exc)
            self.close()
            return
        self._deliver(frames)

    def _deliver(self, frames: list[tuple[int, int, bytes]]) -> None:
        for kind, peer, body in frames:
            for handler in self._handlers.get(kind, ()):
                try:
                    handler(peer, body)
                except Exception:
                    logger.exception("worker %d: cannot handle a frame from the hub", self.index)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.lost = True
        logger.warning("worker %d: the connection to the workers' hub is closed", self.index)
        for handler in self._handlers.get(FrameKind.GONE, ()):
            handler(ALL, b"")  # every other worker is out of reach now


def _value(body: bytes) -> Any:
    """The value after a request id, or None when it cannot be read."""
    try:
        return decode_value(body, ID_SIZE)
    except ProtocolError as exc:
        logger.warning("a forwarded request or response cannot be read: %s", exc)
        return None


class LocalAdapter(ClusterAdapter):
    """The cluster adapter of worker ``link.index`` over the hub (see the module docstring).

    Args:
        link: the worker's connection to the hub.
        requests_timeout: seconds a request waits for the other workers' answers.
    """

    def __init__(self, link: LocalLink, *, requests_timeout: float = 5.0) -> None:
        super().__init__(requests_timeout=requests_timeout)
        self.uid = f"{link.index}.{new_id()}"
        self._link = link
        link.subscribe(FrameKind.CLUSTER, self._on_frame)
        link.subscribe(FrameKind.GONE, self._on_gone)

    async def open(self) -> None:
        await self._link.connect()
        await super().open()

    def publish(self, message: ClusterMessage) -> None:
        self._link.send(FrameKind.CLUSTER, ALL, encode_message(message))

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        index, _, _ = requester.partition(".")
        peer = int(index) if index.isdigit() else ALL
        self._link.send(FrameKind.CLUSTER, peer, encode_message(message))

    def _on_frame(self, peer: int, body: bytes) -> None:
        message = decode_message(body)
        if message is None:
            logger.debug("worker %d: an unknown cluster message from %d", self._link.index, peer)
            return
        self.on_message(message)

    def _on_gone(self, peer: int, body: bytes) -> None:
        prefix = None if peer == ALL else f"{peer}."
        for uid in list(self._nodes):
            if prefix is None or uid.startswith(prefix):
                self._remove_node(uid)
