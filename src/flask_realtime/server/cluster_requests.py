"""Requests between the servers of a cluster that wait for answers, and broadcast acks.

A request (fetch sockets, server-side emit with acks) waits for as many answers as there
are other servers, or until its timeout, and then returns what did arrive. A broadcast
whose clients answer (:func:`collect_acks`) counts the recipients each server reports and
gathers every client's answer, naming those that did not answer in time.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from flask_realtime.deadlines import Deadline
from flask_realtime.protocol.socketio import Packet
from flask_realtime.server.acks import PendingAck
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.server.cluster_messages import ClusterHost
from flask_realtime.server.memory_adapter import InMemoryAdapter
from flask_realtime.typing import NamespaceName, Sid

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket

__all__ = ["AckCollector", "BroadcastAcks", "PendingRequest", "collect_acks", "new_id"]


class PendingRequest:
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


class AckCollector:
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


def new_id() -> str:
    return secrets.token_hex(8)


async def collect_acks(
    adapter: InMemoryAdapter,
    namespace: NamespaceName,
    packet: Packet,
    opts: BroadcastOptions,
    timeout: float,
    collector: AckCollector | None = None,
) -> BroadcastAcks:
    """Broadcast ``packet`` to this server's selected sockets and collect their answers
    (and, with the ``collector`` of :meth:`ClusterAdapter.broadcast_acks`, the others').

    Works with any in-memory-based adapter: without a cluster only local clients answer.
    """
    loop = asyncio.get_running_loop()
    if collector is None:
        collector = AckCollector(loop.create_future(), 0)
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
