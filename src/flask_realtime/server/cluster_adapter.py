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
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from flask_realtime.deadlines import Deadline, Deadlines
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server.acks import PendingAck
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.typing import NamespaceName, Room, Sid

if TYPE_CHECKING:
    from flask_realtime.protocol.parsers import Parser
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

EMITTER_UID = "emitter"
"""The uid of write-only emitters (Node's ``@socket.io/redis-emitter`` uses it too)."""


class MessageType(enum.IntEnum):
    """The messages between servers (the numbers of Node's ``cluster-adapter.ts``)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


@dataclass(slots=True)
class ClusterMessage:
    """One message from a server (``uid``) about namespace ``nsp``; ``data`` by type:

    - BROADCAST: ``packet``, ``opts``, and ``requestId`` when acknowledgements are wanted;
    - SOCKETS_JOIN / SOCKETS_LEAVE: ``opts``, ``rooms``;
    - DISCONNECT_SOCKETS: ``opts``, ``close``;
    - FETCH_SOCKETS: ``opts``, ``requestId``; its response: ``requestId``, ``sockets``;
    - SERVER_SIDE_EMIT: ``packet`` (the event and its arguments), ``requestId`` when
      answers are wanted; its response: ``requestId``, ``packet`` (one answer);
    - BROADCAST_CLIENT_COUNT: ``requestId``, ``clientCount`` (and ``sids``, ours);
    - BROADCAST_ACK: ``requestId``, ``packet`` (one client's answer; and ``sid``, ours).
    """

    type: MessageType
    uid: str
    nsp: NamespaceName
    data: dict[str, Any] = field(default_factory=dict)


class ClusterHost(Protocol):
    """What a cluster adapter uses of its server (a ``SocketIOServer`` has all of it)."""

    @property
    def parser(self) -> Parser: ...

    deadlines: Deadlines
    clock: Callable[[], float]

    def disconnect_socket(self, socket: Socket, close: bool) -> None: ...

    def get_socket(self, sid: Sid, namespace: NamespaceName = "/") -> Socket | None: ...


ServerSideEmitHandler = Callable[[NamespaceName, list[Any], "Callable[[Any], None] | None"], None]
"""Receives another server's ``server_side_emit``: the namespace, ``[event, *args]``, and
the function that sends the answer back (None when no answer is wanted)."""


# -- the wire shapes (Node's) ----------------------------------------------------------------


def encode_options(opts: BroadcastOptions) -> dict[str, Any]:
    """``{rooms, except, flags}`` as Node's adapters write them."""
    flags: dict[str, Any] = {}
    if opts.volatile:
        flags["volatile"] = True
    return {"rooms": list(opts.rooms), "except": list(opts.except_rooms), "flags": flags}


def decode_options(raw: Any, *, local: bool = True) -> BroadcastOptions:
    """The options of a message from another server (applied here only: ``local``)."""
    if not isinstance(raw, dict):
        raw = {}
    flags = raw.get("flags") or {}
    return BroadcastOptions(
        frozenset(str(r) for r in raw.get("rooms") or ()),
        frozenset(str(r) for r in raw.get("except") or ()),
        bool(flags.get("volatile")) if isinstance(flags, dict) else False,
        local,
    )


def encode_packet(packet: Packet) -> dict[str, Any]:
    """A packet as Node's adapters carry it: ``{type: 2, data, nsp}`` and ``id`` if any.

    Binary stays in place (the transport's encoding carries it), so the type is EVENT.
    """
    raw: dict[str, Any] = {
        "type": int(PacketType.EVENT),
        "data": packet.data,
        "nsp": packet.namespace,
    }
    if packet.id is not None:
        raw["id"] = packet.id
    return raw


def decode_packet(raw: Any, namespace: NamespaceName) -> Packet | None:
    """An EVENT packet from another server, or None when it is not one we can send."""
    if not isinstance(raw, dict) or raw.get("type") not in (2, 5):
        return None
    data = raw.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return None
    ack_id = raw.get("id")
    return Packet(PacketType.EVENT, namespace, data, ack_id if isinstance(ack_id, int) else None)


def describe_socket(socket: Socket, rooms: list[Room]) -> dict[str, Any]:
    """A socket as FETCH_SOCKETS answers carry it (Node's ``{id, handshake, rooms, data}``).

    ``data`` is empty: the server layer's per-socket ``data`` holds the Flask machinery's
    cache (request contexts), which is not for other processes.
    """
    hs = socket.eio.handshake
    query = {key: values[0] if len(values) == 1 else values for key, values in hs.query.items()}
    url = hs.path + ("?" + hs.query_string if hs.query_string else "")
    return {
        "id": socket.sid,
        "handshake": {
            "headers": dict(hs.headers),
            "address": hs.remote_addr[0] if hs.remote_addr else None,
            "secure": hs.scheme in ("https", "wss"),
            "xdomain": "origin" in hs.headers,
            "url": url,
            "query": query,
            "auth": {},
        },
        "rooms": rooms,
        "data": {},
    }


# -- requests waiting for answers ------------------------------------------------------------


class _Request:
    """A request to the other servers: answers so far, and who answered."""

    __slots__ = ("expected", "future", "responses", "seen", "timer")

    def __init__(self, expected: int, future: asyncio.Future[list[Any]], responses: list[Any]):
        self.expected = expected
        self.future = future
        self.responses = responses
        self.seen: set[str] = set()
        self.timer: Deadline | None = None

    def settle(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.future.done():
            self.future.set_result(self.responses)


@dataclass
class BroadcastAcks:
    """The acknowledgements of a broadcast ``call()``, from every server.

    Attributes:
        responses: each client's answer by sid (its one value, None, or a tuple of several).
            A peer that does not say which client answered (Node's adapter) has its
            answers keyed ``"<server uid>#<n>"``.
        missing: the sids that got the event and had not answered at the timeout (as far as
            the servers reported them; ``missing_count`` counts all).
        missing_count: how many recipients did not answer in time, every server included
            (those that never reported their client count are not counted).
    """

    responses: dict[Sid, Any] = field(default_factory=dict)
    missing: list[Sid] = field(default_factory=list)
    missing_count: int = 0

    @property
    def complete(self) -> bool:
        """True when every recipient answered."""
        return self.missing_count == 0


class _AckCollector:
    """Collects the acknowledgements of one broadcast ``call()``."""

    def __init__(self, future: asyncio.Future[BroadcastAcks], peers: int) -> None:
        self.future = future
        self.peers_left = peers  # servers whose client count has not arrived
        self.expected = 0  # recipients announced so far
        self.pending: set[Sid] = set()  # announced sids not answered yet
        self.responses: dict[Sid, Any] = {}
        self.anonymous = 0
        self.timer: Deadline | None = None

    def recipients(self, count: int, sids: list[Sid] | None) -> None:
        self.expected += count
        if sids:
            self.pending.update(s for s in sids if s not in self.responses)
        self.check()

    def server_counted(self) -> None:
        self.peers_left -= 1
        self.check()

    def answer(self, sid: Sid | None, value: Any, uid: str = "") -> None:
        if sid is None:
            self.anonymous += 1
            sid = f"{uid}#{self.anonymous}"
        self.pending.discard(sid)
        self.responses[sid] = value
        self.check()

    def check(self) -> None:
        if self.peers_left <= 0 and len(self.responses) >= self.expected:
            self.finish()

    def finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.future.done():
            missing = max(0, self.expected - len(self.responses))
            self.future.set_result(
                BroadcastAcks(dict(self.responses), sorted(self.pending), missing)
            )


def _new_id() -> str:
    return secrets.token_hex(8)


# -- the adapter ---------------------------------------------------------------------------


class ClusterAdapter(InMemoryAdapter):
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
        self.uid: str = _new_id()
        self.requests_timeout = requests_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.on_server_side_emit: ServerSideEmitHandler | None = None
        self._nodes: dict[str, float] = {}  # uid -> when last heard of (host clock)
        self._requests: dict[str, _Request] = {}
        self._ack_requests: dict[str, _AckCollector] = {}
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
        rooms = list(rooms)
        if not opts.local:
            self.publish(
                ClusterMessage(
                    MessageType.SOCKETS_JOIN,
                    self.uid,
                    namespace,
                    {"opts": encode_options(opts), "rooms": rooms},
                )
            )
        super().add_sockets(namespace, opts, rooms)

    def del_sockets(self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Any) -> None:
        """The selected sockets of every server leave ``rooms``."""
        rooms = list(rooms)
        if not opts.local:
            self.publish(
                ClusterMessage(
                    MessageType.SOCKETS_LEAVE,
                    self.uid,
                    namespace,
                    {"opts": encode_options(opts), "rooms": rooms},
                )
            )
        super().del_sockets(namespace, opts, rooms)

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
    ) -> tuple[str, _Request]:
        request_id = _new_id()
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        request = _Request(expected, future, responses)
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
        collector = _AckCollector(asyncio.get_running_loop().create_future(), peers)
        if peers > 0:
            request_id = _new_id()
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

    _HANDLERS: dict[MessageType, Callable[[ClusterAdapter, ClusterMessage], None]] = {
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


async def collect_acks(
    adapter: InMemoryAdapter,
    namespace: NamespaceName,
    packet: Packet,
    opts: BroadcastOptions,
    timeout: float,
    collector: _AckCollector | None = None,
) -> BroadcastAcks:
    """Broadcast ``packet`` to this server's selected sockets and collect their answers
    (and, with the ``collector`` of :meth:`ClusterAdapter.broadcast_acks`, the others').

    Works with any in-memory-based adapter: without a cluster only local clients answer.
    """
    loop = asyncio.get_running_loop()
    if collector is None:
        collector = _AckCollector(loop.create_future(), 0)
    host = cast("ClusterHost", adapter.host)
    event = str(packet.data[0])
    sids: list[Sid] = []

    def expect(socket: Socket) -> None:
        future: asyncio.Future[Any] = loop.create_future()
        sid = socket.sid
        socket.add_ack(ack_id, PendingAck(event, future=future))
        sids.append(sid)
        waiting.append(socket)

        def answered(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is None:
                collector.answer(sid, f.result())

        future.add_done_callback(answered)

    waiting: list[Socket] = []
    ack_id = packet.id if packet.id is not None else 0
    count = InMemoryAdapter.broadcast_with_ack(adapter, namespace, packet, opts, expect)
    collector.recipients(count, sids)

    def timed_out(now: float) -> None:
        collector.timer = None
        collector.finish()

    collector.timer = host.deadlines.call_at(host.clock() + timeout, timed_out)
    collector.check()
    try:
        return await collector.future
    finally:
        for socket in waiting:
            pending = socket.drop_ack(ack_id)
            if pending is not None:
                pending.stop_timer()
