"""One server's part in a cluster: its uid, its peers, and what the others publish.

:class:`ClusterNode` is the in-memory adapter with what makes it a member of a cluster:
the transport a subclass implements (:meth:`~ClusterNode.publish`,
:meth:`~ClusterNode.publish_response`, :meth:`~ClusterNode.watch`), joining and leaving
(:meth:`~ClusterNode.open`, :meth:`~ClusterNode.close`), the heartbeat that counts the other
servers, and :meth:`~ClusterNode.on_message`, which applies what the others publish to this
server's sockets with the local half of each operation and answers their requests. The
operations that publish are :class:`~flask_realtime.server.cluster_adapter.ClusterAdapter`'s.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from flask_realtime.deadlines import Deadline
from flask_realtime.protocol.socketio import Packet
from flask_realtime.server.acks import PendingAck
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
)
from flask_realtime.server.cluster_requests import AckCollector, PendingRequest, new_id
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.typing import NamespaceName, Sid

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket

__all__ = ["ClusterNode"]

logger = logging.getLogger(__name__)


class ClusterNode(InMemoryAdapter):
    """Rooms on this server, operations on every server (see the module docstring).

    Args:
        requests_timeout: seconds a request waits for the other servers' answers.
        heartbeat_interval: seconds between two heartbeats (when :attr:`uses_heartbeat`).
        heartbeat_timeout: seconds without news after which a server is forgotten.

    Attributes:
        uid: this server's id in the cluster (random).
        on_server_side_emit: receives the ``server_side_emit`` of other servers (set by
            the layer above; without it those are dropped).
    """

    uses_heartbeat = True
    """Count the other servers by their heartbeats (a subclass may count otherwise)."""

    def __init__(
        self,
        *,
        requests_timeout: float = 5.0,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.uid: str = new_id()
        self.requests_timeout = requests_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.on_server_side_emit: ServerSideEmitHandler | None = None
        self._nodes: dict[str, float] = {}  # uid -> when last heard of (host clock)
        self._requests: dict[str, PendingRequest] = {}
        self._ack_requests: dict[str, AckCollector] = {}
        self._heartbeat: Deadline | None = None
        self._opened = False

    # -- what a transport implements ---------------------------------------------------

    @abstractmethod
    def publish(self, message: ClusterMessage) -> None:
        """Send ``message`` to every other server (fire and forget, in order)."""

    @abstractmethod
    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Send ``message`` to the server ``requester`` (fire and forget)."""

    def watch(self, namespace: NamespaceName) -> None:
        """Make sure this server hears what is published about ``namespace``.

        Called for every namespace this server has sockets in, and by the layer above for
        namespaces it handles server-side events of. A no-op unless the transport listens
        per namespace.
        """

    async def peer_count(self, namespace: NamespaceName) -> int:
        """How many other servers listen on ``namespace`` (answers a request waits for)."""
        self._forget_silent_nodes()
        return len(self._nodes)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def cluster_host(self) -> ClusterHost:
        """The server, with what the cluster model uses of it."""
        return cast("ClusterHost", self.host)

    async def open(self) -> None:
        """Join the cluster: say hello, and start the heartbeat."""
        self._opened = True
        self.watch("/")
        if self.uses_heartbeat:
            self.publish(ClusterMessage(MessageType.INITIAL_HEARTBEAT, self.uid, "/"))
            self._schedule_heartbeat()

    async def close(self) -> None:
        """Leave the cluster: say goodbye; waiting requests return what they have."""
        if not self._opened:
            return
        self._opened = False
        if self.uses_heartbeat:
            self.publish(ClusterMessage(MessageType.ADAPTER_CLOSE, self.uid, "/"))
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        for request in list(self._requests.values()):
            request.settle()
        self._requests.clear()
        for collector in list(self._ack_requests.values()):
            collector.finish()
        self._ack_requests.clear()

    def _schedule_heartbeat(self) -> None:
        host = self.cluster_host
        when = host.clock() + self.heartbeat_interval
        if self._heartbeat is None:
            self._heartbeat = host.deadlines.call_at(when, self._beat)
        else:
            self._heartbeat.set(when)

    def _beat(self, now: float) -> None:
        if not self._opened:
            return
        self.publish(ClusterMessage(MessageType.HEARTBEAT, self.uid, "/"))
        self._forget_silent_nodes()
        self._schedule_heartbeat()

    def _forget_silent_nodes(self) -> None:
        if not self.uses_heartbeat or not self._nodes or self._host is None:
            return
        limit = self.cluster_host.clock() - self.heartbeat_timeout
        for uid, seen in list(self._nodes.items()):
            if seen < limit:
                logger.info("cluster: server %s seems down (no heartbeat)", uid)
                self._remove_node(uid)

    def _remove_node(self, uid: str) -> None:
        self._nodes.pop(uid, None)
        for request_id, request in list(self._requests.items()):
            if uid not in request.seen:
                request.expected -= 1
                if len(request.seen) >= request.expected:
                    self._requests.pop(request_id, None)
                    request.settle()

    # -- what the others publish -------------------------------------------------------

    def on_message(self, message: ClusterMessage) -> None:
        """Apply a message from another server (messages from this one are ignored)."""
        uid = message.uid
        if uid == self.uid:
            return
        kind = message.type
        if self.uses_heartbeat and uid and uid != EMITTER_UID and self._host is not None:
            self._nodes[uid] = self.cluster_host.clock()
        try:
            handler = self._HANDLERS[kind]
        except KeyError:
            logger.debug("cluster: unknown message type %r from %s", kind, uid)
            return
        try:
            handler(self, message)
        except Exception:
            logger.exception("cluster: cannot apply a %s message from %s", kind.name, uid)

    def _on_initial_heartbeat(self, message: ClusterMessage) -> None:
        self.publish(ClusterMessage(MessageType.HEARTBEAT, self.uid, "/"))

    def _on_heartbeat(self, message: ClusterMessage) -> None:
        pass

    def _on_adapter_close(self, message: ClusterMessage) -> None:
        self._remove_node(message.uid)

    def _on_broadcast(self, message: ClusterMessage) -> None:
        data = message.data
        namespace = message.nsp
        packet = decode_packet(data.get("packet"), namespace)
        if packet is None:
            return
        opts = decode_options(data.get("opts"))
        request_id = data.get("requestId")
        if request_id is None:
            InMemoryAdapter.broadcast(self, namespace, packet, opts)
            return
        self._answer_broadcast_with_ack(message, packet, opts, str(request_id))

    def _answer_broadcast_with_ack(
        self, message: ClusterMessage, packet: Packet, opts: BroadcastOptions, request_id: str
    ) -> None:
        namespace = message.nsp
        host = self.cluster_host
        requester = message.uid
        sids: list[Sid] = []
        waiting: list[Socket] = []
        socket_any = next(iter(self.local_sockets(namespace, BroadcastOptions())), None)
        count = 0
        if socket_any is not None:
            # Our own ack id: the requester's may be in use here already.
            ack_id = socket_any.nsp.next_ack_id()
            packet = Packet(packet.type, namespace, packet.data, ack_id)
            loop = asyncio.get_running_loop()
            event = str(packet.data[0])

            def expect(socket: Socket) -> None:
                future: asyncio.Future[Any] = loop.create_future()
                socket.add_ack(ack_id, PendingAck(event, future=future))
                future.add_done_callback(
                    partial(self._forward_ack, message, request_id, socket.sid)
                )
                sids.append(socket.sid)
                waiting.append(socket)

            count = InMemoryAdapter.broadcast_with_ack(self, namespace, packet, opts, expect)
            raw_opts = message.data.get("opts")
            flags = raw_opts.get("flags") if isinstance(raw_opts, dict) else None
            timeout_ms = flags.get("timeout") if isinstance(flags, dict) else None
            wait = (
                timeout_ms / 1000 if isinstance(timeout_ms, int | float) else self.requests_timeout
            )
            if waiting:

                def give_up(now: float) -> None:
                    for socket in waiting:
                        pending = socket.drop_ack(ack_id)
                        if pending is not None:
                            pending.fail(TimeoutError("broadcast acknowledgement timed out"))

                host.deadlines.call_at(host.clock() + wait, give_up)
        self.publish_response(
            requester,
            ClusterMessage(
                MessageType.BROADCAST_CLIENT_COUNT,
                self.uid,
                namespace,
                {"requestId": request_id, "clientCount": count, "sids": sids},
            ),
        )

    def _forward_ack(
        self, message: ClusterMessage, request_id: str, sid: Sid, future: asyncio.Future[Any]
    ) -> None:
        if future.cancelled() or future.exception() is not None or not self._opened:
            return
        self.publish_response(
            message.uid,
            ClusterMessage(
                MessageType.BROADCAST_ACK,
                self.uid,
                message.nsp,
                {"requestId": request_id, "packet": future.result(), "sid": sid},
            ),
        )

    def _on_sockets_join(self, message: ClusterMessage) -> None:
        rooms = [str(r) for r in message.data.get("rooms") or ()]
        InMemoryAdapter.add_sockets(
            self, message.nsp, decode_options(message.data.get("opts")), rooms
        )

    def _on_sockets_leave(self, message: ClusterMessage) -> None:
        rooms = [str(r) for r in message.data.get("rooms") or ()]
        InMemoryAdapter.del_sockets(
            self, message.nsp, decode_options(message.data.get("opts")), rooms
        )

    def _on_disconnect_sockets(self, message: ClusterMessage) -> None:
        opts = decode_options(message.data.get("opts"))
        InMemoryAdapter.disconnect_sockets(self, message.nsp, opts, bool(message.data.get("close")))

    def _on_fetch_sockets(self, message: ClusterMessage) -> None:
        namespace = message.nsp
        opts = decode_options(message.data.get("opts"))
        sockets = [
            describe_socket(s, self.rooms(namespace, s.sid))
            for s in self.local_sockets(namespace, opts)
        ]
        self.publish_response(
            message.uid,
            ClusterMessage(
                MessageType.FETCH_SOCKETS_RESPONSE,
                self.uid,
                namespace,
                {"requestId": message.data.get("requestId"), "sockets": sockets},
            ),
        )

    def _on_server_side_emit(self, message: ClusterMessage) -> None:
        packet = message.data.get("packet")
        if not isinstance(packet, list) or not packet:
            return
        handler = self.on_server_side_emit
        request_id = message.data.get("requestId")
        reply: Callable[[Any], None] | None = None
        if request_id is not None:
            answered = False

            def reply(value: Any) -> None:
                nonlocal answered
                if answered or not self._opened:
                    return
                answered = True
                self.publish_response(
                    message.uid,
                    ClusterMessage(
                        MessageType.SERVER_SIDE_EMIT_RESPONSE,
                        self.uid,
                        message.nsp,
                        {"requestId": request_id, "packet": value},
                    ),
                )

        if handler is None:
            logger.debug("cluster: no receiver for server-side event %r", packet[0])
            return
        handler(message.nsp, packet, reply)

    def _on_response(self, message: ClusterMessage) -> None:
        data = message.data
        request_id = data.get("requestId")
        kind = message.type
        if kind is MessageType.BROADCAST_CLIENT_COUNT or kind is MessageType.BROADCAST_ACK:
            collector = self._ack_requests.get(str(request_id))
            if collector is None:
                return
            if kind is MessageType.BROADCAST_CLIENT_COUNT:
                count = data.get("clientCount")
                sids = data.get("sids")
                collector.recipients(
                    count if isinstance(count, int) else 0,
                    [str(s) for s in sids] if isinstance(sids, list) else None,
                )
                collector.server_counted()
            else:
                sid = data.get("sid")
                collector.answer(
                    str(sid) if sid is not None else None, data.get("packet"), message.uid
                )
            return
        request = self._requests.get(str(request_id))
        if request is None or message.uid in request.seen:
            return
        request.seen.add(message.uid)
        if kind is MessageType.FETCH_SOCKETS_RESPONSE:
            sockets = data.get("sockets")
            if isinstance(sockets, list):
                request.responses.extend(sockets)
        else:
            request.responses.append(data.get("packet"))
        if len(request.seen) >= request.expected:
            self._requests.pop(str(request_id), None)
            request.settle()

    _HANDLERS: dict[MessageType, Callable[[ClusterNode, ClusterMessage], None]] = {
        MessageType.INITIAL_HEARTBEAT: _on_initial_heartbeat,
        MessageType.HEARTBEAT: _on_heartbeat,
        MessageType.ADAPTER_CLOSE: _on_adapter_close,
        MessageType.BROADCAST: _on_broadcast,
        MessageType.SOCKETS_JOIN: _on_sockets_join,
        MessageType.SOCKETS_LEAVE: _on_sockets_leave,
        MessageType.DISCONNECT_SOCKETS: _on_disconnect_sockets,
        MessageType.FETCH_SOCKETS: _on_fetch_sockets,
        MessageType.SERVER_SIDE_EMIT: _on_server_side_emit,
        MessageType.FETCH_SOCKETS_RESPONSE: _on_response,
        MessageType.SERVER_SIDE_EMIT_RESPONSE: _on_response,
        MessageType.BROADCAST_CLIENT_COUNT: _on_response,
        MessageType.BROADCAST_ACK: _on_response,
    }
