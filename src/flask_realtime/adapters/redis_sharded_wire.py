"""The wire format of Node's sharded Redis adapter (``createShardedAdapter`` of
``@socket.io/redis-adapter``), shared by our sharded adapter and the emitter.

Channels, for a ``key`` (our ``channel`` option; Node's ``channelPrefix``) and a
namespace ``nsp``, all sharded (``SPUBLISH``/``SSUBSCRIBE``):

- ``<key>#<nsp>#``: every message to every server of the namespace;
- ``<key>#<nsp>#<uid>#``: the responses to server ``uid``;
- ``<key>#<nsp>#<room>#``: a broadcast to exactly one room, in the ``dynamic`` modes
  (``dynamic``: rooms that do not look like a socket id; ``dynamic-private``: every
  room). A broadcast that wants acknowledgements always goes to the namespace's channel.

A message is the cluster message itself, ``{uid, nsp, type, data}`` with the types and
fields of Node's ``cluster-adapter.ts``: JSON, or msgpack (notepack.io's dialect) when
its data holds binary. A payload starting with ``{`` is JSON, anything else msgpack.

Our additions, which Node ignores, as on the classic channels: a broadcast's client
count carries the ``sids`` it sent to, each acknowledgement the ``sid`` that answered,
and an acknowledgement of several values all of them in ``args`` (``packet`` is the
first, as Node's).
"""

from __future__ import annotations

import json
from typing import Any

from flask_realtime.adapters.redis_wire import load_payload, packb
from flask_realtime.server.cluster_adapter import ClusterMessage, MessageType

__all__ = ["ShardedChannels", "decode_sharded", "encode_sharded", "looks_like_a_sid"]

_SID_LENGTH = 20  # Node's and ours: 15 random bytes, base64url


def looks_like_a_sid(room: str) -> bool:
    """Node's test for a socket's own room (it never gets a channel in ``dynamic`` mode)."""
    return len(room) == _SID_LENGTH


class ShardedChannels:
    """The channel names of one key (see the module docstring)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def main(self, nsp: str) -> str:
        return f"{self.key}#{nsp}#"

    def room(self, nsp: str, room: str) -> str:
        return f"{self.key}#{nsp}#{room}#"

    response = room  # the responses to a server: its uid in place of a room


def _no_json(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def encode_sharded(message: ClusterMessage) -> bytes:
    """``message`` as Node's sharded adapter publishes it.

    Raises:
        ConfigurationError: its data holds what neither JSON nor msgpack can carry.
    """
    data = message.data
    if message.type is MessageType.BROADCAST_ACK and type(data.get("packet")) is tuple:
        answers = data["packet"]
        data = {**data, "packet": answers[0] if answers else None, "args": list(answers)}
    body = {"uid": message.uid, "nsp": message.nsp, "type": int(message.type), "data": data}
    try:
        return json.dumps(body, separators=(",", ":"), default=_no_json, allow_nan=False).encode()
    except (TypeError, ValueError):
        return packb(body)  # binary (or a value JSON cannot carry): msgpack


def decode_sharded(payload: bytes) -> ClusterMessage | None:
    """A payload from a sharded channel as a cluster message (None: not one).

    Raises:
        ValueError: neither JSON nor msgpack (msgpack's errors derive from it).
    """
    body = load_payload(payload)
    if not isinstance(body, dict):
        return None
    uid, nsp, data = body.get("uid"), body.get("nsp"), body.get("data")
    if not isinstance(uid, str) or not isinstance(nsp, str):
        return None
    try:
        kind = MessageType(int(body.get("type")))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        return None
    if kind is MessageType.BROADCAST_ACK and isinstance(data.get("args"), list):
        data["packet"] = tuple(data["args"])
    return ClusterMessage(kind, uid, nsp, data)
