"""Forwarding requests between servers over Redis: no sticky sessions across machines.

On one machine the workers forward a long-polling request for another worker's session
through their hub (:mod:`flask_realtime.adapters.local`). Servers on several machines
share no hub, but they share the app's ``message_queue``; when it is Redis, each server
process takes a number unique in the cluster (``INCR`` of one key, once at start), which
starts the ids of its sessions, and subscribes to a channel of its own
(``<channel>#eio#<number>#``). A request for a session of process ``n`` is published to
``n``'s channel, and the answer to the requester's channel: the same REQUEST, RESPONSE
and CANCEL as over the hub (``runtime/multiprocess/routing.py`` does the rest), as Node's
``@socket.io/cluster-engine`` does over Redis. A request to a channel nobody listens on
(``PUBLISH`` reaches no subscriber: that process is gone) ends at once, as GONE does on the
hub.

The same channels carry relayed WebSockets: an upgrade that reaches a server which does
not own its session is relayed to the owner, message by message (kinds from
:data:`RELAY_KINDS`, read by ``runtime/engineio/relay_wire.py``; this module carries them
without reading them). A publish that reaches nobody ends those too.

Messages: :func:`~flask_realtime.adapters.local_wire.encode_value` of
``[kind, sender, request_id, value]``; no pickle. One publisher task per process keeps the
order in which they were sent (a CANCEL never overtakes its REQUEST, a relayed WebSocket's
messages arrive in order).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from flask_realtime.adapters.local import ForwardReceiver
from flask_realtime.adapters.local_wire import FrameKind, decode_value, encode_value
from flask_realtime.adapters.redis_connect import is_redis_url, parse_redis_url
from flask_realtime.adapters.urls import redact_url
from flask_realtime.exceptions import BrokerUnavailableError, ProtocolError

__all__ = ["MAX_BUS_INDEX", "RELAY_KINDS", "RedisForwarder", "RelayReceiver", "bus_url"]

logger = logging.getLogger(__name__)

MAX_BUS_INDEX = 999_999_999
"""Numbers wrap past this (a sid carries at most 9 digits of it)."""

_OUTBOX_LIMIT = 100_000
"""Messages waiting to be published, at most; past it, requests are answered as unknown."""
_OUTBOX_BYTES = 128 * 1024 * 1024
"""Bytes waiting to be published, at most (a relayed message may be a MB), likewise."""
_BATCH = 256
"""Messages published in one round trip to Redis, at most."""


RELAY_KINDS = range(16, 32)
"""The kinds of the relayed WebSockets' messages (``runtime/engineio/relay_wire.py``)."""


class RelayReceiver(Protocol):
    """Who handles the relayed WebSockets' messages (``runtime/multiprocess/routing.py``'s
    ``SessionRouter``)."""

    def relayed(self, kind: int, peer: int, conn_id: int, value: Any) -> None: ...

    def relay_peer_gone(self, peer: int) -> None: ...


def bus_url(message_queue: object) -> str | None:
    """The URL requests travel on between machines, or None: forwarding needs one Redis
    server with classic pub/sub (a ``PUBLISH`` there reaches every subscriber and counts
    them). On a Redis Cluster or with sharded pub/sub a ``PUBLISH`` counts one node's
    subscribers only, so a live server could pass for a stopped one: no forwarding there.
    """
    if not isinstance(message_queue, str) or not is_redis_url(message_queue):
        return None
    target = parse_redis_url(message_queue)
    if target.cluster or target.sharded:
        return None
    return target.url


class RedisForwarder:
    """One server process's end of the forwarding over Redis (see the module docstring).

    Make it with :meth:`join` (which gives it its number), then :meth:`connect` on the
    process's loop.
    """

    def __init__(self, url: str, channel: str, index: int) -> None:
        self.url = url
        self.index = index
        self._prefix = f"{channel}#eio#"
        self._receiver: ForwardReceiver | None = None
        self._relay: RelayReceiver | None = None
        self._client: Any = None
        # Made now: what is sent before connect() waits there (the server takes requests
        # while it subscribes), and is published once it is connected.
        self._outbox: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._outbox_bytes = 0
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def join(cls, url: str, channel: str) -> RedisForwarder:
        """A forwarder with a number no other process of the cluster has (blocking: called
        before the process serves, so that its first session carries the number).

        Raises:
            BrokerUnavailableError: Redis cannot be reached.
        """
        import redis

        try:
            client = redis.Redis.from_url(url, socket_timeout=10)
            try:
                number = int(client.incr(f"{channel}#eio#numbers"))
            finally:
                client.close()
        except redis.RedisError as exc:
            raise BrokerUnavailableError(
                f"cannot reach the message queue at {redact_url(url)}: {exc}"
            ) from None
        return cls(url, channel, number % (MAX_BUS_INDEX + 1))

    def on_forwarding(self, receiver: ForwardReceiver) -> None:
        self._receiver = receiver

    def on_relay(self, receiver: RelayReceiver) -> None:
        self._relay = receiver

    @property
    def backlog(self) -> int:
        """Bytes waiting to be published."""
        return self._outbox_bytes

    async def connect(self) -> None:
        """Subscribe to this process's channel and start publishing (on the running loop)."""
        if self._client is not None:
            return
        import redis.asyncio

        self._client = redis.asyncio.Redis.from_url(self.url)
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._channel(self.index))
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read(pubsub)), loop.create_task(self._publish())]

    async def shutdown(self) -> None:
        """Stop: publish what waits (for a second at most: the close packets of relayed
        WebSockets are among it), then unsubscribe (on the loop)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while self._tasks and self._outbox_bytes and loop.time() < deadline:
            await asyncio.sleep(0.01)
        self._closed = True
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- the Forwarder contract of the session routing ------------------------------------

    def request(self, peer: int, request_id: int, value: Any) -> bool:
        return self._send(FrameKind.REQUEST, peer, request_id, value)

    def respond(self, peer: int, request_id: int, value: Any) -> None:
        self._send(FrameKind.RESPONSE, peer, request_id, value)

    def cancel(self, peer: int, request_id: int) -> None:
        self._send(FrameKind.CANCEL, peer, request_id, None)

    # -- the relayed WebSockets ----------------------------------------------------------

    def relay(self, kind: int, peer: int, conn_id: int, value: Any) -> bool:
        """Publish one relayed WebSocket's message (``kind`` in :data:`RELAY_KINDS`) to
        process ``peer``; False when the outbox is full or the bus closed."""
        return self._send(kind, peer, conn_id, value)

    # -- internals -----------------------------------------------------------------------

    def _channel(self, index: int) -> str:
        return f"{self._prefix}{index}#"

    def _send(self, kind: int, peer: int, request_id: int, value: Any) -> bool:
        outbox = self._outbox
        if self._closed or outbox.qsize() >= _OUTBOX_LIMIT or self._outbox_bytes >= _OUTBOX_BYTES:
            return False
        body = encode_value([int(kind), self.index, request_id, value])
        self._outbox_bytes += len(body)
        outbox.put_nowait((peer, body))
        return True

    async def _publish(self) -> None:
        outbox = self._outbox
        while True:
            batch = [await outbox.get()]
            while len(batch) < _BATCH and not outbox.empty():
                batch.append(outbox.get_nowait())
            try:
                # One round trip for what waits, in order (a pipeline, no transaction).
                pipe = self._client.pipeline(transaction=False)
                for peer, body in batch:
                    pipe.publish(self._channel(peer), body)
                reached = await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: the requesters' waits end
                logger.warning("cannot forward to other servers over Redis: %s", exc)
                reached = [0] * len(batch)
            self._outbox_bytes -= sum(len(body) for _, body in batch)
            for (peer, _), count in zip(batch, reached, strict=True):
                if not count:  # nobody listens there: that process is gone
                    if self._receiver is not None:
                        self._receiver.peer_gone(peer)
                    if self._relay is not None:
                        self._relay.relay_peer_gone(peer)

    async def _read(self, pubsub: Any) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as exc:
                logger.warning("request forwarding: Redis subscription lost (%s); again", exc)
                await asyncio.sleep(1.0)
                try:
                    await pubsub.subscribe(self._channel(self.index))
                except Exception:
                    continue

    def _dispatch(self, data: bytes) -> None:
        receiver = self._receiver
        try:
            kind, sender, request_id, value = decode_value(data)
            kind, sender, request_id = int(kind), int(sender), int(request_id)
        except (ProtocolError, TypeError, ValueError):
            logger.warning("request forwarding: a message that is not ours on our channel")
            return
        if kind in RELAY_KINDS:
            if self._relay is not None:
                self._relay.relayed(kind, sender, request_id, value)
            return
        if receiver is None:
            return
        if kind == FrameKind.REQUEST:
            receiver.forwarded_request(sender, request_id, value)
        elif kind == FrameKind.RESPONSE:
            receiver.forwarded_response(sender, request_id, value)
        elif kind == FrameKind.CANCEL:
            receiver.forwarded_cancel(sender, request_id)
