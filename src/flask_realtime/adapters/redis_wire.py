"""The wire format of Node's ``@socket.io/redis-adapter`` (and ``@socket.io/redis-emitter``).

Shared by the Redis adapter (:mod:`flask_realtime.adapters.redis`) and the write-only
emitter (:mod:`flask_realtime.emitter`), so both speak exactly what Node's servers do.

Channels, for a ``key`` (our ``channel`` option) and a namespace ``nsp``:

- ``<key>#<nsp>#``: broadcasts to a whole namespace, or to several rooms; and
  ``<key>#<nsp>#<room>#``: broadcasts to exactly one room. Servers ``PSUBSCRIBE``
  ``<key>#<nsp>#*``. The message is msgpack (notepack.io's dialect) ``[uid, packet, opts]``:
  ``packet`` is ``{type: 2, data: [event, *args], nsp}`` (binary in place as msgpack
  ``bin``), ``opts`` is ``{rooms, except, flags}``.
- ``<key>-request#<nsp>#``: requests, JSON ``{uid, type, ...}`` (the types of
  :class:`RequestType`), except a broadcast that wants acknowledgements, which is msgpack
  (its packet may hold binary). Servers ``SUBSCRIBE`` to it, so ``PUBSUB NUMSUB`` of it
  counts the servers of a namespace.
- ``<key>-response#<nsp>#`` and ``<key>-response#<nsp>#<uid>#``: responses (JSON, or
  msgpack for a broadcast acknowledgement); we publish to the requester's own channel
  (Node's ``publishOnSpecificResponseChannel``) and listen on both.

A payload starting with ``{`` is JSON, anything else msgpack (as Node decides).

Our additions, which Node ignores: responses carry the responder's ``uid``; a broadcast's
client count carries the ``sids`` it sent to, and each acknowledgement the ``sid`` that
answered (so a broadcast ``call()`` can say who did not answer). An acknowledgement's
``packet`` is the client's first answer, as Node's (its socket.io passes only that on);
when a client answered with several values, ``args`` holds them all, for our servers.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server.cluster_adapter import EMITTER_UID, ClusterMessage, MessageType

__all__ = [
    "DEFAULT_CHANNEL",
    "Channels",
    "RequestType",
    "dumps_json",
    "load_payload",
    "packb",
    "unpackb",
]

DEFAULT_CHANNEL = "flask-socketio"
"""Our default key: Flask-SocketIO's default ``channel``. Node's adapter defaults to
``socket.io``: set ``channel="socket.io"`` to share a cluster with Node servers that keep
their default."""


class RequestType(enum.IntEnum):
    """The request types of Node's Redis adapter (not the cluster adapter's numbers)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*?[]^"})


class Channels:
    """The channel names of one key (see the module docstring)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def broadcast(self, nsp: str, room: str | None = None) -> str:
        base = f"{self.key}#{nsp}#"
        return base if room is None else f"{base}{room}#"

    def broadcast_pattern(self, nsp: str) -> str:
        """The ``PSUBSCRIBE`` pattern of a namespace's broadcasts (glob characters escaped)."""
        return self.broadcast(nsp).translate(_GLOB_SPECIAL) + "*"

    def request(self, nsp: str) -> str:
        return f"{self.key}-request#{nsp}#"

    def response(self, nsp: str, uid: str | None = None) -> str:
        base = f"{self.key}-response#{nsp}#"
        return base if uid is None else f"{base}{uid}#"


# -- codecs ------------------------------------------------------------------------------------


class _Undefined:
    """JavaScript's ``undefined`` while a message is decoded (never returned)."""

    __slots__ = ()


_UNDEFINED = _Undefined()

# notepack.io 3 writes undefined as fixext 1 type 0 and a Date as the msgpack timestamp
# (ext -1: fixext 4, fixext 8 or ext 8 of 12 bytes). A payload with none of these byte
# pairs holds neither, and is decoded without the (slower) container hooks.
_JS_ONLY_MARKERS = (b"\xd4\x00", b"\xd6\xff", b"\xd7\xff", b"\x0c\xff")


def _ext_hook(code: int, data: bytes) -> Any:
    # notepack.io: ext 0 is undefined (one zero byte) or an ArrayBuffer; others as Node reads them.
    if code == 0:
        return _UNDEFINED if data == b"\x00" else data
    return [code, data]


def _js_date(stamp: Any) -> str | None:
    """A msgpack timestamp as JavaScript's ``Date.toJSON()`` writes it (what a Node
    server's clients get for a ``Date``); None for a date JavaScript cannot show."""
    import datetime

    try:
        when = datetime.datetime.fromtimestamp(stamp.seconds, datetime.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    if not 0 < when.year <= 9999:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.nanoseconds // 1_000_000:03d}Z"


def _js_list(items: list[Any]) -> list[Any]:
    # JSON.stringify writes undefined in an array as null.
    from msgpack import Timestamp

    for i, item in enumerate(items):
        if item is _UNDEFINED:
            items[i] = None
        elif type(item) is Timestamp:
            items[i] = _js_date(item)
    return items


def _js_map(pairs: dict[Any, Any]) -> dict[Any, Any]:
    # JSON.stringify leaves out the keys whose value is undefined.
    from msgpack import Timestamp

    for key, value in list(pairs.items()):
        if value is _UNDEFINED:
            del pairs[key]
        elif type(value) is Timestamp:
            pairs[key] = _js_date(value)
    return pairs


def packb(value: Any) -> bytes:
    """msgpack as notepack.io reads it (bytes as ``bin``, str as ``str``)."""
    import msgpack

    try:
        return bytes(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigurationError(f"cannot send {value!r} to the other servers: {exc}") from None


def unpackb(payload: bytes) -> Any:
    """msgpack as notepack.io writes it, read as a Node server would send it to its
    clients: a ``Date`` becomes its ISO string, ``undefined`` null in an array and no
    key in an object."""
    import msgpack

    if not any(marker in payload for marker in _JS_ONLY_MARKERS):
        return msgpack.unpackb(payload, raw=False, ext_hook=_ext_hook, strict_map_key=False)
    value = msgpack.unpackb(payload, raw=False, ext_hook=_ext_hook, strict_map_key=False,
                           list_hook=_js_list, object_hook=_js_map)  # fmt: skip
    if value is _UNDEFINED:
        return None
    if type(value) is msgpack.Timestamp:
        return _js_date(value)
    return value


def _no_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(value: Any) -> bytes:
    """JSON for requests and responses (no bytes: Node's adapter sends those as JSON too)."""
    try:
        return json.dumps(value, separators=(",", ":"), default=_no_json).encode()
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot send {value!r} to the other servers (requests are JSON): {exc}"
        ) from None


def load_payload(payload: bytes) -> Any:
    """A request or response: JSON when it starts with ``{``, else msgpack."""
    if payload[:1] == b"{":
        return json.loads(payload)
    return unpackb(payload)


# -- cluster messages <-> Redis messages -------------------------------------------------------


def _opts_plain(opts: Any) -> dict[str, Any]:
    opts = opts if isinstance(opts, dict) else {}
    return {"rooms": list(opts.get("rooms") or ()), "except": list(opts.get("except") or ())}


def encode_message(channels: Channels, message: ClusterMessage) -> tuple[str, bytes] | None:
    """A cluster message as Node's Redis adapter publishes it (None: not on this wire)."""
    kind, data, nsp, uid = message.type, message.data, message.nsp, message.uid
    if kind is MessageType.BROADCAST:
        opts = data["opts"]
        packet = data["packet"]
        request_id = data.get("requestId")
        if request_id is None:
            rooms = opts.get("rooms") or []
            channel = channels.broadcast(nsp, rooms[0] if len(rooms) == 1 else None)
            return channel, packb([uid, packet, opts])
        body = {"uid": uid, "requestId": request_id, "type": RequestType.BROADCAST.value,
                "packet": packet, "opts": opts}  # fmt: skip
        return channels.request(nsp), packb(body)
    request: dict[str, Any]
    if kind is MessageType.SOCKETS_JOIN or kind is MessageType.SOCKETS_LEAVE:
        request_type = (
            RequestType.REMOTE_JOIN
            if kind is MessageType.SOCKETS_JOIN
            else RequestType.REMOTE_LEAVE
        )
        request = {"uid": uid, "type": request_type.value, "opts": _opts_plain(data["opts"]),
                   "rooms": list(data["rooms"])}  # fmt: skip
    elif kind is MessageType.DISCONNECT_SOCKETS:
        request = {"uid": uid, "type": RequestType.REMOTE_DISCONNECT.value,
                   "opts": _opts_plain(data["opts"]), "close": bool(data.get("close"))}  # fmt: skip
    elif kind is MessageType.FETCH_SOCKETS:
        request = {"uid": uid, "requestId": data["requestId"],
                   "type": RequestType.REMOTE_FETCH.value,
                   "opts": _opts_plain(data["opts"])}  # fmt: skip
    elif kind is MessageType.SERVER_SIDE_EMIT:
        request = {"uid": uid, "type": RequestType.SERVER_SIDE_EMIT.value, "data": data["packet"]}
        if data.get("requestId") is not None:
            request["requestId"] = data["requestId"]
    else:
        return None  # heartbeats: Redis counts listeners itself
    return channels.request(nsp), dumps_json(request)


def encode_response(
    channels: Channels, requester: str, message: ClusterMessage
) -> tuple[str, bytes] | None:
    """A response as Node's Redis adapter publishes it, to the requester's channel."""
    kind, data = message.type, message.data
    channel = channels.response(message.nsp, requester)
    body: dict[str, Any]
    if kind is MessageType.FETCH_SOCKETS_RESPONSE:
        body = {"requestId": data["requestId"], "sockets": data["sockets"]}
    elif kind is MessageType.SERVER_SIDE_EMIT_RESPONSE:
        body = {"type": RequestType.SERVER_SIDE_EMIT.value, "requestId": data["requestId"],
                "data": data["packet"]}  # fmt: skip
    elif kind is MessageType.BROADCAST_CLIENT_COUNT:
        body = {"type": RequestType.BROADCAST_CLIENT_COUNT.value, "requestId": data["requestId"],
                "clientCount": data["clientCount"], "sids": data.get("sids") or []}  # fmt: skip
    elif kind is MessageType.BROADCAST_ACK:
        # Node's adapters carry a client's first answer only; the rest ride in our "args".
        answer = data["packet"]
        several = type(answer) is tuple
        body = {"type": RequestType.BROADCAST_ACK.value, "requestId": data["requestId"],
                "packet": (answer[0] if answer else None) if several else answer,
                "sid": data.get("sid"), "uid": message.uid}  # fmt: skip
        if several:
            body["args"] = list(answer)
        return channel, packb(body)
    else:
        return None
    body["uid"] = message.uid
    return channel, dumps_json(body)


def decode_broadcast(payload: bytes) -> ClusterMessage | None:
    """``[uid, packet, opts]`` from a broadcast channel."""
    value = unpackb(payload)
    if not isinstance(value, list) or len(value) < 3 or not isinstance(value[1], dict):
        return None
    uid, packet, opts = value[0], value[1], value[2]
    nsp = packet.get("nsp") or "/"
    return ClusterMessage(
        MessageType.BROADCAST, str(uid), str(nsp), {"packet": packet, "opts": opts}
    )


_REQUESTS = {
    RequestType.REMOTE_JOIN: MessageType.SOCKETS_JOIN,
    RequestType.REMOTE_LEAVE: MessageType.SOCKETS_LEAVE,
    RequestType.REMOTE_DISCONNECT: MessageType.DISCONNECT_SOCKETS,
    RequestType.REMOTE_FETCH: MessageType.FETCH_SOCKETS,
    RequestType.SERVER_SIDE_EMIT: MessageType.SERVER_SIDE_EMIT,
    RequestType.BROADCAST: MessageType.BROADCAST,
}


def decode_request(nsp: str, request: dict[str, Any]) -> ClusterMessage | None:
    """A request from a request channel as a cluster message (SOCKETS and ALL_ROOMS are
    answered by the adapter itself: None here)."""
    try:
        kind = _REQUESTS[RequestType(int(request.get("type")))]  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError):
        return None
    uid = str(request.get("uid") or EMITTER_UID)  # the emitter's join/leave carry none
    data: dict[str, Any] = {}
    if kind is MessageType.SERVER_SIDE_EMIT:
        data["packet"] = request.get("data")
    else:
        data["opts"] = request.get("opts")
    for name in ("rooms", "close", "requestId", "packet"):
        if name in request and name not in data:
            data[name] = request[name]
    return ClusterMessage(kind, uid, nsp, data)


def decode_response(nsp: str, response: dict[str, Any], fallback_uid: str) -> ClusterMessage | None:
    """A response from a response channel as a cluster message."""
    uid = str(response.get("uid") or fallback_uid)
    request_type = response.get("type")
    data: dict[str, Any] = {"requestId": response.get("requestId")}
    if request_type == RequestType.BROADCAST_CLIENT_COUNT:
        data["clientCount"] = response.get("clientCount")
        data["sids"] = response.get("sids")
        return ClusterMessage(MessageType.BROADCAST_CLIENT_COUNT, uid, nsp, data)
    if request_type == RequestType.BROADCAST_ACK:
        several = response.get("args")
        data["packet"] = tuple(several) if isinstance(several, list) else response.get("packet")
        data["sid"] = response.get("sid")
        return ClusterMessage(MessageType.BROADCAST_ACK, uid, nsp, data)
    if request_type == RequestType.SERVER_SIDE_EMIT:
        data["packet"] = response.get("data")
        return ClusterMessage(MessageType.SERVER_SIDE_EMIT_RESPONSE, uid, nsp, data)
    if isinstance(response.get("sockets"), list):
        sockets = response["sockets"]
        if sockets and not isinstance(sockets[0], dict):
            return None  # an answer to Node's SOCKETS request (sids only): not ours
        data["sockets"] = sockets
        return ClusterMessage(MessageType.FETCH_SOCKETS_RESPONSE, uid, nsp, data)
    return None
