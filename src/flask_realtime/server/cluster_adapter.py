"""The cluster model: an adapter whose operations reach the sockets of every server.

After Node's ``socket.io-adapter`` ``cluster-adapter.ts``. A :class:`ClusterAdapter` is the
in-memory adapter plus a uid and a transport: every operation on a selection of sockets
(broadcast, join, leave, disconnect; ``close_room`` is a leave) is applied to this server's
sockets and published to the others, unless the selection is ``local``; what the others
publish is fed to :meth:`ClusterAdapter.on_message` and applied here with the local half.

It knows nothing of the transport: a subclass implements :meth:`~ClusterAdapter.publish`
and :meth:`~ClusterAdapter.publish_response` (fire and forget, never blocking the loop)
and calls :meth:`~ClusterAdapter.on_message` with what arrives, as
:class:`ClusterMessage` objects (the message types and fields of Node's cluster adapter;
packets as Node's packet objects ``{type, data, nsp, id?}``, options as
``{rooms, except, flags}``). The Redis adapter (``flask_realtime.adapters.redis``)
translates them to the wire format of ``@socket.io/redis-adapter``.

Requests that need answers wait for as many answers as there are other servers
(:meth:`~ClusterAdapter.peer_count`), or until their timeout, and then return what did
arrive: :meth:`~ClusterAdapter.fetch_sockets`, :meth:`~ClusterAdapter.server_side_emit`
with acknowledgements, and :meth:`~ClusterAdapter.broadcast_acks` (each client's
acknowledgement of a broadcast: every server first says how many clients it sent to, then
forwards each answer).

How many other servers there are: by default each server publishes a heartbeat every
``heartbeat_interval`` seconds, and one not heard of for ``heartbeat_timeout`` seconds is
forgotten (Node's ``ClusterAdapterWithHeartbeat``). A transport that can count listeners
itself (Redis: ``PUBSUB NUMSUB``) turns the heartbeat off and overrides ``peer_count``.

Timers go into the server's heap of deadlines (``host.deadlines``, measured with
``host.clock``), as every other timer of the server does. Everything runs on the loop.

The module holds the operations that publish and the requests; the messages, the request
bookkeeping and the member's half (joining, heartbeats, applying what others publish) are
in ``cluster_messages.py``, ``cluster_requests.py`` and ``cluster_node.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.socketio import Packet
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.server.cluster_messages import (
    EMITTER_UID,
    ClusterHost,
    ClusterMessage,
    MessageType,
    ServerSideEmitHandler,
    decode_options,
    decode_packet,
    describe_socket,
    encode_options,
    encode_packet,
)
from flask_realtime.server.cluster_node import ClusterNode
from flask_realtime.server.cluster_requests import (
    AckCollector,
    BroadcastAcks,
    PendingRequest,
    collect_acks,
    new_id,
)
from flask_realtime.typing import NamespaceName, Room

if TYPE_CHECKING:
    from flask_realtime.deadlines import Deadlines
    from flask_realtime.server.recovery import RecoveryOptions, SessionBackend
    from flask_realtime.server.socket import Socket

__all__ = [
    "EMITTER_UID",
    "BroadcastAcks",
    "ClusterAdapter",
    "ClusterHost",
    "ClusterMessage",
    "MessageType",
    "ServerSideEmitHandler",
    "collect_acks",
    "decode_options",
    "decode_packet",
    "describe_socket",
    "encode_options",
    "encode_packet",
]

logger = logging.getLogger(__name__)


class ClusterAdapter(ClusterNode):
    """Rooms on this server, operations on every server (see the module docstring).

    The operations on a selection of sockets apply here and are published; requests wait
    for the other servers' answers. Membership, the transport, joining and what the others
    publish are :class:`~flask_realtime.server.cluster_node.ClusterNode`'s.
    """

    def recovery_backend(
        self, options: RecoveryOptions, deadlines: Deadlines, clock: Callable[[], float]
    ) -> SessionBackend:
        """None here: sessions kept by one server cannot be recovered on another; an
        adapter on a broker that keeps them overrides this.

        Raises:
            ConfigurationError: always.
        """
        raise ConfigurationError(
            f"connection_state_recovery needs sessions that every server can read: "
            f"{type(self).__name__} keeps none (use one server, or redis+streams://)"
        )

    # -- membership: watch the namespaces we have sockets in ---------------------------

    def add(self, socket: Socket, room: Room) -> None:
        """Put ``socket`` in ``room``; its namespace is watched from its first room on."""
        if room == socket.sid:
            self.watch(socket.nsp.name)
        super().add(socket, room)

    # -- operations: here, and published ----------------------------------------------

    def broadcast(self, namespace: NamespaceName, packet: Packet, opts: BroadcastOptions) -> None:
        """Publish the broadcast (unless ``local``), then write it to this server's sockets."""
        if not opts.local:
            self.publish(
                ClusterMessage(
                    MessageType.BROADCAST,
                    self.uid,
                    namespace,
                    {"packet": encode_packet(packet), "opts": encode_options(opts)},
                )
            )
        super().broadcast(namespace, packet, opts)

    def broadcast_with_ack(
        self,
        namespace: NamespaceName,
        packet: Packet,
        opts: BroadcastOptions,
        on_recipient: Callable[[Socket], None],
    ) -> int:
        """``emit(..., callback=fn)`` to many: every server's clients get the event; the
        callback runs for this server's clients' answers only (use :meth:`broadcast_acks`
        to collect them all)."""
        if not opts.local:
            self.publish(
                ClusterMessage(
                    MessageType.BROADCAST,
                    self.uid,
                    namespace,
                    {"packet": encode_packet(packet), "opts": encode_options(opts)},
                )
            )
        return super().broadcast_with_ack(namespace, packet, opts, on_recipient)

    def add_sockets(self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Any) -> None:
        """The selected sockets of every server join ``rooms``."""
        rooms = self._publish_rooms(MessageType.SOCKETS_JOIN, namespace, opts, rooms)
        super().add_sockets(namespace, opts, rooms)

    def del_sockets(self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Any) -> None:
        """The selected sockets of every server leave ``rooms``."""
        rooms = self._publish_rooms(MessageType.SOCKETS_LEAVE, namespace, opts, rooms)
        super().del_sockets(namespace, opts, rooms)

    def _publish_rooms(
        self, kind: MessageType, namespace: NamespaceName, opts: BroadcastOptions, rooms: Any
    ) -> list[Room]:
        """Publish a join or leave (unless ``local``); the rooms, as a list."""
        listed: list[Room] = list(rooms)
        if not opts.local:
            data = {"opts": encode_options(opts), "rooms": listed}
            self.publish(ClusterMessage(kind, self.uid, namespace, data))
        return listed

    def disconnect_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, close: bool
    ) -> None:
        """The selected sockets of every server are disconnected."""
        if not opts.local:
            self.publish(
                ClusterMessage(
                    MessageType.DISCONNECT_SOCKETS,
                    self.uid,
                    namespace,
                    {"opts": encode_options(opts), "close": close},
                )
            )
        super().disconnect_sockets(namespace, opts, close)

    # -- requests ----------------------------------------------------------------------

    def _request(
        self, expected: int, responses: list[Any], timeout: float | None
    ) -> tuple[str, PendingRequest]:
        request_id = new_id()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        request = PendingRequest(expected, future, responses)
        self._requests[request_id] = request
        host = self.cluster_host

        def timed_out(now: float) -> None:
            if self._requests.pop(request_id, None) is not None:
                logger.warning(
                    "cluster: %d of %d servers answered in time",
                    len(request.seen),
                    request.expected,
                )
                request.timer = None
                request.settle()

        wait = self.requests_timeout if timeout is None else timeout
        request.timer = host.deadlines.call_at(host.clock() + wait, timed_out)
        return request_id, request

    async def fetch_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """The selected sockets of every server, as ``{id, handshake, rooms, data}``.

        Waits for every other server's answer, at most ``timeout`` seconds (the adapter's
        ``requests_timeout`` by default), and returns what arrived.
        """
        local = [
            describe_socket(s, self.rooms(namespace, s.sid))
            for s in self.local_sockets(namespace, opts)
        ]
        if opts.local:
            return local
        expected = await self.peer_count(namespace)
        if expected <= 0:
            return local
        request_id, request = self._request(expected, local, timeout)
        self.publish(
            ClusterMessage(
                MessageType.FETCH_SOCKETS,
                self.uid,
                namespace,
                {"opts": encode_options(opts), "requestId": request_id},
            )
        )
        return await request.future

    async def server_side_emit(
        self,
        namespace: NamespaceName,
        packet: list[Any],
        *,
        want_answers: bool = False,
        timeout: float | None = None,
    ) -> list[Any]:
        """Send ``[event, *args]`` to the other servers (not this one).

        With ``want_answers``, waits for each other server's answer (at most ``timeout``
        seconds) and returns them; else returns ``[]`` at once.
        """
        if not want_answers:
            self.publish(
                ClusterMessage(
                    MessageType.SERVER_SIDE_EMIT, self.uid, namespace, {"packet": packet}
                )
            )
            return []
        expected = await self.peer_count(namespace)
        if expected <= 0:
            return []
        request_id, request = self._request(expected, [], timeout)
        self.publish(
            ClusterMessage(
                MessageType.SERVER_SIDE_EMIT,
                self.uid,
                namespace,
                {"packet": packet, "requestId": request_id},
            )
        )
        return await request.future

    async def broadcast_acks(
        self,
        namespace: NamespaceName,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: float,
    ) -> BroadcastAcks:
        """Broadcast ``packet`` (which has an ack id) and collect every client's answer.

        Returns after every recipient answered, or after ``timeout`` seconds with what
        arrived (see :class:`BroadcastAcks`).
        """
        peers = 0 if opts.local else await self.peer_count(namespace)
        collector = AckCollector(asyncio.get_running_loop().create_future(), peers)
        if peers > 0:
            request_id = new_id()
            self._ack_requests[request_id] = collector
            opts_raw = encode_options(opts)
            opts_raw["flags"]["timeout"] = int(timeout * 1000)
            self.publish(
                ClusterMessage(
                    MessageType.BROADCAST,
                    self.uid,
                    namespace,
                    {"packet": encode_packet(packet), "opts": opts_raw, "requestId": request_id},
                )
            )
            collector.future.add_done_callback(lambda _: self._ack_requests.pop(request_id, None))
        return await collect_acks(self, namespace, packet, opts, timeout, collector)
