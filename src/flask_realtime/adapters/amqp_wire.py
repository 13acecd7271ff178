"""The wire format of the RabbitMQ (AMQP 0-9-1) adapter: our own.

Node's socket.io has no AMQP adapter to be compatible with, and python-socketio's kombu
manager pickles its messages (which we never unpickle), so this format is ours: only
flask-realtime servers and emitters speak it. Shared by the adapter
(:mod:`flask_realtime.adapters.amqp`) and the emitter (:mod:`flask_realtime.emitter`).

Topology, for a ``channel`` option ``C``:

- one **fanout exchange** named ``C`` (not durable, auto-deleted once its last queue goes);
  every message to all servers is published there;
- each server has its own **queue** ``C.<uid>`` (exclusive to its connection,
  auto-deleted, at most :data:`QUEUE_MAX_LENGTH` messages: a server that cannot keep up
  loses the oldest), bound to the exchange;
- a response to one server is published to the default exchange with that server's queue
  name as the routing key, so only the requester gets it.

A message's body is msgpack ``[type, uid, nsp, data]``: the cluster model's
:class:`~flask_realtime.server.cluster_adapter.ClusterMessage` as it is (its type number,
its fields), ``bytes`` in place as msgpack ``bin``. Its AMQP properties: ``type``
:data:`MESSAGE_TYPE` (anything else on the exchange is ignored, never unpickled),
``content_type`` ``application/msgpack``, ``app_id`` the sender's uid (a server skips its
own messages without decoding them), not persistent.
"""

from __future__ import annotations

from typing import Any

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server.cluster_adapter import ClusterMessage, MessageType

__all__ = [
    "AMQP_SCHEMES",
    "CONTENT_TYPE",
    "MESSAGE_TYPE",
    "QUEUE_MAX_LENGTH",
    "decode",
    "encode",
    "is_amqp_url",
    "queue_name",
]

AMQP_SCHEMES = ("amqp://", "amqps://")
"""The ``message_queue`` URLs that mean RabbitMQ."""

MESSAGE_TYPE = "flask-realtime.cluster.1"
"""The AMQP ``type`` property of our messages (the format's version is its last part)."""

CONTENT_TYPE = "application/msgpack"

QUEUE_MAX_LENGTH = 100_000
"""The most messages a server's queue holds in the broker (``x-max-length``)."""


def is_amqp_url(url: str) -> bool:
    """True for ``amqp://`` and ``amqps://`` URLs."""
    return url.lower().startswith(AMQP_SCHEMES)


def queue_name(channel: str, uid: str) -> str:
    """The queue of server ``uid``: responses to it are routed by this name."""
    return f"{channel}.{uid}"


def encode(message: ClusterMessage) -> bytes:
    """``message`` as a message body.

    Raises:
        ConfigurationError: its data has something msgpack cannot encode.
    """
    import msgpack

    value = [int(message.type), message.uid, message.nsp, message.data]
    try:
        return bytes(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigurationError(
            f"cannot send {message.data!r} to the other servers: {exc}"
        ) from None


def decode(body: bytes) -> ClusterMessage | None:
    """A message body as a cluster message, or None when it is not one of ours.

    Raises:
        ValueError: the body is not msgpack (msgpack's own errors derive from it).
    """
    import msgpack

    value: Any = msgpack.unpackb(body, raw=False, strict_map_key=False)
    if not isinstance(value, list) or len(value) != 4:
        return None
    kind, uid, nsp, data = value
    if not isinstance(uid, str) or not isinstance(nsp, str) or not isinstance(data, dict):
        return None
    try:
        message_type = MessageType(kind)
    except ValueError:
        return None
    return ClusterMessage(message_type, uid, nsp, data)
