"""The wire format of Node's ``@socket.io/redis-streams-adapter``: stream entries and
sessions.

Each cluster message (:class:`~flask_realtime.server.cluster_adapter.ClusterMessage`) is
one entry of the stream with the fields ``uid``, ``nsp``, ``type`` (the message type's
number, as text) and, when it has data, ``data``: JSON, or, when the data holds binary,
msgpack in base64 (a JSON object starts with ``{``, which base64 of a msgpack map never
does). An entry's id is the offset that connection state recovery hands the clients.

A session (what a socket that left leaves behind) is msgpack of ``{sid, pid, rooms,
data}`` in base64, under the key ``<session prefix><pid>`` with an expiry.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from flask_realtime.adapters.redis_wire import packb, unpackb
from flask_realtime.protocol.socketio import PacketType
from flask_realtime.server.cluster_messages import ClusterMessage, MessageType, decode_options
from flask_realtime.server.recovery import Session
from flask_realtime.typing import Room

__all__ = [
    "decode_entry",
    "decode_session",
    "encode_entry",
    "encode_session",
    "entry_id",
    "is_offset",
    "logged_event",
    "next_offset",
    "selected_event",
    "text",
]

_OFFSET = re.compile(r"[0-9]+-[0-9]+")


def _has_binary(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(_has_binary(item) for item in value)
    if isinstance(value, dict):
        return any(_has_binary(item) for item in value.values())
    return False


def encode_entry(message: ClusterMessage) -> dict[str, str]:
    """The stream entry's fields for ``message``."""
    fields = {"uid": message.uid, "nsp": message.nsp, "type": str(int(message.type))}
    data = message.data
    if data:
        if _has_binary(data):
            fields["data"] = base64.b64encode(packb(data)).decode("ascii")
        else:
            fields["data"] = json.dumps(data, separators=(",", ":"))
    return fields


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def decode_entry(fields: dict[Any, Any]) -> ClusterMessage | None:
    """The message of a stream entry, or None when it is not one (malformed, unknown type)."""
    plain = {_text(key): _text(value) for key, value in fields.items()}
    try:
        kind = MessageType(int(plain["type"]))
        uid = plain["uid"]
        nsp = plain["nsp"]
    except (KeyError, ValueError):
        return None
    data: Any = {}
    raw = plain.get("data")
    if raw:
        try:
            data = json.loads(raw) if raw.startswith("{") else unpackb(base64.b64decode(raw))
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    return ClusterMessage(kind, uid, nsp, data)


def is_offset(offset: str) -> bool:
    """Whether ``offset`` has the shape of a stream entry id (``<ms>-<seq>``)."""
    return _OFFSET.fullmatch(offset) is not None


def next_offset(offset: str) -> str:
    """The smallest id after ``offset`` (XRANGE's exclusive start, for Redis before 6.2)."""
    stamp, sequence = offset.split("-")
    return f"{stamp}-{int(sequence) + 1}"


def encode_session(session: Session) -> str:
    """A session as Node's adapter stores it: base64 of msgpack ``{sid, pid, rooms, data}``."""
    raw = {"sid": session.sid, "pid": session.pid, "rooms": list(session.rooms),
           "data": session.data or {}}  # fmt: skip
    return base64.b64encode(packb(raw)).decode("ascii")


def decode_session(stored: bytes | str, now: float) -> Session | None:
    """The session stored as :func:`encode_session` writes it (by us or by Node)."""
    try:
        raw = unpackb(base64.b64decode(stored))
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    sid, pid, rooms, data = raw.get("sid"), raw.get("pid"), raw.get("rooms"), raw.get("data")
    if not isinstance(sid, str) or not isinstance(pid, str) or not isinstance(rooms, list):
        return None
    room_list = tuple(str(room) for room in rooms)
    if sid not in room_list:
        room_list = (sid, *room_list)
    return Session(sid, pid, room_list, data if isinstance(data, dict) and data else None, now)


def logged_event(message: ClusterMessage) -> list[Any] | None:
    """The event's data (``[event, *args]``, a copy) of a BROADCAST that is logged (an
    event without acknowledgement, not volatile); None for any other."""
    if message.type is not MessageType.BROADCAST:
        return None
    raw = message.data.get("packet")
    if not isinstance(raw, dict) or raw.get("type") != int(PacketType.EVENT):
        return None
    data = raw.get("data")
    if not isinstance(data, list) or raw.get("id") is not None:
        return None
    if decode_options(message.data.get("opts")).volatile:
        return None
    raw["data"] = data = list(data)
    return data


def selected_event(message: ClusterMessage, rooms: tuple[Room, ...]) -> list[Any] | None:
    """The event of a logged BROADCAST entry, if a socket in ``rooms`` was a recipient."""
    data = logged_event(message)
    if data is None:
        return None
    opts = decode_options(message.data.get("opts"))
    included = not opts.rooms or any(room in opts.rooms for room in rooms)
    if not included or any(room in opts.except_rooms for room in rooms):
        return None
    return data


def entry_id(offset: str) -> tuple[int, int]:
    """A stream entry id, comparable ("$" and malformed ones: the start)."""
    stamp, _, sequence = offset.partition("-")
    try:
        return int(stamp), int(sequence or 0)
    except ValueError:
        return 0, 0


def text(value: Any) -> str:
    """A field or id as redis-py returns it (bytes), as text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
