"""Emit to the clients of a cluster from a process that serves none: a Celery task, a script.

::

    from flask_realtime.emitter import Emitter

    emitter = Emitter("redis://localhost:6379/0")      # checks the connection now
    emitter = Emitter("amqp://guest:guest@rabbit//")   # or RabbitMQ: the URL decides
    emitter.emit("progress", {"done": 40}, to="job-17")
    emitter.enter_room(sid, "admins")
    emitter.close_room("job-17")

or, Flask-SocketIO's way, ``socketio = SocketIO(message_queue="redis://...")`` with no app:
its ``emit``, ``send``, ``enter_room``, ``leave_room``, ``close_room`` and ``disconnect``
then publish through an :class:`Emitter`.

The URL's scheme chooses the transport, as for the servers' ``message_queue``:

- ``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``: it publishes what Node's
  ``@socket.io/redis-emitter`` publishes (uid ``"emitter"``, see
  :mod:`flask_realtime.adapters.redis_wire`), so every server of the cluster (ours, or
  Node's with ``@socket.io/redis-adapter``) delivers it; redis-py's blocking client. With
  ``?sharded=true`` (the servers' URL) it publishes as Node's sharded adapter does
  (:mod:`flask_realtime.adapters.redis_sharded_wire`), which Node's emitter cannot.
- ``amqp://``, ``amqps://``: it publishes the cluster messages of our RabbitMQ adapter
  (:mod:`flask_realtime.adapters.amqp_wire`) to the servers' exchange; aio-pika on a
  thread of its own (:class:`~flask_realtime.adapters.amqp.AmqpPublisher`), each call
  returning once the broker confirmed it.

``channel`` must be the servers' channel. It is write-only: no acknowledgements, no
``call()``, no ``rooms()``. Thread-safe and synchronous: many threads may share one
emitter. Binary data (``bytes`` anywhere in the arguments) is sent as binary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .adapters.amqp_wire import is_amqp_url
from .adapters.redis_connect import parse_redis_url, sync_client
from .adapters.redis_sharded import sharded_channel_of
from .adapters.redis_sharded_wire import ShardedChannels, encode_sharded
from .adapters.redis_wire import DEFAULT_CHANNEL, Channels, encode_message
from .adapters.urls import redact_url
from .exceptions import BrokerUnavailableError, ConfigurationError
from .protocol.socketio import RESERVED_EVENTS
from .server.cluster_adapter import EMITTER_UID, ClusterMessage, MessageType

if TYPE_CHECKING:
    from redis import Redis
    from redis.cluster import RedisCluster

__all__ = ["Emitter"]


def _rooms(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(dict.fromkeys(value))


def _namespace(namespace: str | None) -> str:
    if not namespace:
        return "/"
    return namespace if namespace.startswith("/") else "/" + namespace


class _Transport(Protocol):
    def publish(self, message: ClusterMessage) -> None: ...

    def close(self) -> None: ...


class _RedisTransport:
    """Cluster messages in Node's Redis format (classic, or sharded when the URL says so),
    published with redis-py's blocking client."""

    def __init__(self, url: str, channel: str, redis_options: dict[str, Any] | None) -> None:
        try:
            import msgpack  # noqa: F401
            import redis  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "the emitter needs redis-py and msgpack: pip install 'flask-realtime[redis]'"
            ) from None
        from redis.exceptions import RedisError

        target = parse_redis_url(url)
        self.target = target
        self.channels = Channels(channel)
        self.sharded_channels = ShardedChannels(channel)
        self._redis: Redis | RedisCluster = sync_client(target, redis_options or {})
        try:
            self._redis.ping()
        except (RedisError, OSError) as exc:
            self._redis.close()
            raise BrokerUnavailableError(
                f"cannot reach the message queue at {target.shown}: {type(exc).__name__}: {exc}"
            ) from None

    def publish(self, message: ClusterMessage) -> None:
        if self.target.sharded:
            channel = sharded_channel_of(self.sharded_channels, self.target.mode, message)
            self._redis.execute_command("SPUBLISH", channel, encode_sharded(message))  # type: ignore[no-untyped-call, unused-ignore]
            return
        encoded = encode_message(self.channels, message)
        if encoded is not None:
            self._redis.execute_command("PUBLISH", *encoded)  # type: ignore[no-untyped-call, unused-ignore]

    def close(self) -> None:
        self._redis.close()


class Emitter:
    """A write-only member of a cluster (see the module docstring).

    Args:
        url: the servers' ``message_queue`` URL (Redis or RabbitMQ).
        channel: the servers' ``channel`` (``"flask-socketio"`` by default).
        redis_options: more keyword arguments for ``redis.Redis.from_url``.
        amqp_options: more keyword arguments for ``aio_pika.connect``.

    Raises:
        ConfigurationError: the client library of the URL's broker is missing, or the URL
            is not valid.
        BrokerUnavailableError: the broker does not answer at ``url``.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        redis_options: dict[str, Any] | None = None,
        amqp_options: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.channel = channel
        self._transport: _Transport
        if is_amqp_url(url):
            from .adapters.amqp import AmqpPublisher

            self._transport = AmqpPublisher(url, channel=channel, amqp_options=amqp_options)
        else:
            self._transport = _RedisTransport(url, channel, redis_options)

    def close(self) -> None:
        """Release the connections."""
        self._transport.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _publish(self, kind: MessageType, namespace: str | None, data: dict[str, Any]) -> None:
        self._transport.publish(ClusterMessage(kind, EMITTER_UID, _namespace(namespace), data))

    # -- events ----------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        to: str | Iterable[str] | None = None,
        room: str | Iterable[str] | None = None,
        namespace: str | None = None,
        skip_sid: str | Iterable[str] | None = None,
        volatile: bool = False,
        **ignored: Any,
    ) -> None:
        """Emit ``event`` to every client in ``to`` (rooms or sids; everyone when None),
        minus ``skip_sid``, on every server.

        ``callback`` is not supported (nobody here could receive the answers).

        Raises:
            ConfigurationError: a reserved event name, a callback, or data msgpack cannot
                encode.
        """
        if ignored.get("callback") is not None:
            raise ConfigurationError("an emitter cannot receive acknowledgements (callback)")
        if event in RESERVED_EVENTS:
            raise ConfigurationError(f"{event!r} is a reserved event name")
        nsp = _namespace(namespace)
        flags: dict[str, Any] = {"volatile": True} if volatile else {}
        packet = {"type": 2, "data": [event, *args], "nsp": nsp}
        opts = {"rooms": _rooms(to if to is not None else room), "except": _rooms(skip_sid),
                "flags": flags}  # fmt: skip
        self._publish(MessageType.BROADCAST, nsp, {"packet": packet, "opts": opts})

    def send(
        self,
        data: Any,
        json: bool = False,
        namespace: str | None = None,
        to: str | Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Send a ``message`` (or ``json``) event; see :meth:`emit`."""
        self.emit("json" if json else "message", data, namespace=namespace, to=to, **kwargs)

    def server_side_emit(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """Send ``event`` to every server's ``@socketio.on_server_event`` handler (no answers)."""
        self._publish(MessageType.SERVER_SIDE_EMIT, namespace, {"packet": [event, *args]})

    # -- rooms and connections -------------------------------------------------------------

    def enter_room(self, sid: str | Iterable[str], room: str | Iterable[str],
                   namespace: str | None = None) -> None:  # fmt: skip
        """The clients selected by ``sid`` (sids or rooms) join ``room`` (one or several)."""
        opts = {"rooms": _rooms(sid), "except": []}
        self._publish(MessageType.SOCKETS_JOIN, namespace, {"opts": opts, "rooms": _rooms(room)})

    join_room = enter_room

    def leave_room(self, sid: str | Iterable[str], room: str | Iterable[str],
                   namespace: str | None = None) -> None:  # fmt: skip
        """The clients selected by ``sid`` (sids or rooms) leave ``room``."""
        opts = {"rooms": _rooms(sid), "except": []}
        self._publish(MessageType.SOCKETS_LEAVE, namespace, {"opts": opts, "rooms": _rooms(room)})

    def close_room(self, room: str, namespace: str | None = None) -> None:
        """Every client leaves ``room``."""
        self.leave_room(room, room, namespace)

    def disconnect(self, sid: str | Iterable[str], namespace: str | None = None,
                   close: bool = False) -> None:  # fmt: skip
        """Disconnect the clients selected by ``sid`` (sids or rooms) from ``namespace``
        (``close``: their whole connection)."""
        self._publish(MessageType.DISCONNECT_SOCKETS, namespace,
                      {"opts": {"rooms": _rooms(sid), "except": []}, "close": close})  # fmt: skip

    def __repr__(self) -> str:
        return f"<Emitter {redact_url(self.url)} channel={self.channel!r}>"


class EmitterOperations:
    """The ``socketio.*`` operations of a ``SocketIO(message_queue=...)`` bound to no app:
    the shape of :class:`~flask_realtime.binding.operations.Operations`, on an emitter."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter

    def emit(self, event: str, args: tuple[Any, ...], *, namespace: str,
             to: str | Iterable[str] | None, skip_sid: str | Iterable[str] | None,
             callback: Any, volatile: bool, origin: Any) -> None:  # fmt: skip
        self.emitter.emit(event, *args, namespace=namespace, to=to, skip_sid=skip_sid,
                          volatile=volatile, callback=callback)  # fmt: skip

    def enter_room(self, sid: str, room: str, namespace: str, origin: Any) -> None:
        self.emitter.enter_room(sid, room, namespace)

    def leave_room(self, sid: str, room: str, namespace: str, origin: Any) -> None:
        self.emitter.leave_room(sid, room, namespace)

    def close_room(self, room: str, namespace: str, origin: Any) -> None:
        self.emitter.close_room(room, namespace)

    def disconnect(self, sid: str, namespace: str, origin: Any) -> None:
        self.emitter.disconnect(sid, namespace)

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigurationError(
            "a SocketIO(message_queue=...) bound to no app only emits: call(), rooms() and "
            "background tasks need a server (init_app)"
        )

    call = rooms = bridge_for = _unsupported
