"""Socket.IO parsers: packets to Engine.IO messages and back.

Two parsers stand behind one interface, as in Node's socket.io (``parser`` option):

- :class:`JsonParser`, the default: the text format of Socket.IO v5 "Packet encoding" (and
  v4), with binary values sent as attachments after the text;
- :class:`~flask_realtime.protocol.msgpack_parser.MsgpackParser`, compatible with npm
  ``socket.io-msgpack-parser``: each packet one msgpack message, binary values native.

A parser is stateless and shared by a whole server; each connection gets its own
:class:`Decoder`, which holds the state of a binary packet awaiting its attachments.

Text format (v5 "Packet encoding")::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]

for example ``2["hello",1]``, ``2/admin,["hello"]``, ``312["ok"]`` and
``51-["img",{"_placeholder":true,"num":0}]`` followed by one binary message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.binary import deconstruct
from flask_realtime.protocol.json_decoder import (
    DEFAULT_MAX_ATTACHMENTS,
    MAX_JSON_DEPTH,
    JsonDecoder,
    Loads,
)
from flask_realtime.protocol.msgpack_parser import MsgpackParser
from flask_realtime.protocol.socketio import Packet, PacketType

__all__ = [
    "DEFAULT_MAX_ATTACHMENTS",
    "MAX_JSON_DEPTH",
    "Decoder",
    "JsonDecoder",
    "JsonParser",
    "MsgpackParser",
    "Parser",
    "default_json",
]

_NON_EVENT_TYPES = frozenset({0, 1, 4})  # CONNECT, DISCONNECT, CONNECT_ERROR
_TYPE_CHARS: tuple[str, ...] = tuple(str(int(t)) for t in PacketType)

Dumps = Callable[[Any], str]


class Decoder(Protocol):
    """Turns the messages of one connection back into packets."""

    def feed(self, data: str | bytes) -> Packet | None:
        """Take one Engine.IO message; return a packet when one is complete, else ``None``.

        Raises:
            ProtocolError: the message is malformed or unexpected; the connection should
                be closed (the decoder is reset, but the peer is not to be trusted).
        """
        ...


# A decoder may also have ``feed_event(text)``, the common EVENT without a Packet (see
# JsonDecoder.feed_event): the server uses it when it is there. Not part of the protocol,
# so that other decoders (msgpack, an application's) need not have it.


class Parser(Protocol):
    """Encodes packets for every connection of a server, and makes their decoders."""

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Return the Engine.IO messages for ``packet``: the packet, then its attachments.

        Raises:
            ConfigurationError: ``packet.data`` cannot be serialised.
        """
        ...

    def encode_ack(self, namespace: str, ack_id: int, args: list[Any]) -> list[str | bytes]:
        """What :meth:`encode` returns for ``Packet(PacketType.ACK, namespace, args,
        ack_id)``, without the packet: a handler's reply, the one encode per event."""
        ...

    def encode_event(
        self, namespace: str, data: list[Any], ack_id: int | None = None
    ) -> list[str | bytes]:
        """What :meth:`encode` returns for ``Packet(PacketType.EVENT, namespace, data,
        ack_id)``, without the packet: an emit to one client, the one encode per emit."""
        ...

    def decoder(self) -> Decoder:
        """Return a new decoder for one connection."""
        ...


def _unserialisable(exc: BaseException) -> ConfigurationError:
    return ConfigurationError(f"cannot serialise packet data as JSON: {exc}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def default_json() -> tuple[Dumps, Loads]:
    """Return the default ``(dumps, loads)``: orjson when importable, else the stdlib.

    Both produce what ``JSON.stringify`` produces: compact, non-ASCII characters as they
    are, dict keys that are not strings turned into strings. ``dumps`` raises
    ``TypeError`` for bytes (the parser relies on it, see :meth:`JsonParser.encode`).
    NaN and infinities: orjson writes ``null``, as ``JSON.stringify`` does; the stdlib
    refuses them. ``loads`` refuses them both, as ``JSON.parse`` does, and, unlike it, an
    escaped lone surrogate (``"\\ud800"``), which no UTF-8 text can carry; ``dumps``
    refuses a ``str`` holding one (orjson: ``TypeError``; the stdlib: ``ValueError``).
    """
    try:
        import orjson
    except ImportError:
        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        decoder = json.JSONDecoder(parse_constant=_reject_constant)

        def loads(text: str) -> Any:
            data = decoder.decode(text)
            if "\\u" in text:
                # An escaped lone surrogate ("\ud800") decodes to a str that cannot be
                # encoded as UTF-8 again: refuse it here, as orjson does, rather than fail
                # when a reply or a broadcast carrying it is written. UnicodeEncodeError
                # is a ValueError.
                encoder.encode(data).encode()
            return data

        def checked_dumps(obj: Any) -> str:
            text = encoder.encode(obj)
            if not text.isascii():
                text.encode()  # a lone surrogate: a ValueError now, as orjson raises one
            return text

        return checked_dumps, loads

    orjson_dumps = orjson.dumps
    non_str_keys = orjson.OPT_NON_STR_KEYS

    def dumps(obj: Any) -> str:
        try:
            return orjson_dumps(obj).decode()
        except TypeError:
            # Rare: int (or other) dict keys. Bytes fail again here, by design.
            return orjson_dumps(obj, option=non_str_keys).decode()

    return dumps, orjson.loads


class JsonParser:
    """The default Socket.IO parser (``socket.io-parser``): text packets, binary attachments.

    Args:
        dumps: serialise a value to a compact JSON ``str``. Defaults to orjson (else the
            stdlib). A custom one must return ``str``, as Flask's ``app.json.dumps`` does.
        loads: parse JSON text. Defaults to orjson (else the stdlib).
        version: 5 (socket.io 3.x and later) or 4 (socket.io 2.x clients).
        max_attachments: refuse binary packets announcing more attachments than this.

    Raises:
        ConfigurationError: an unknown version, a negative bound, or a ``dumps`` that does
            not return ``str``.
    """

    __slots__ = ("_dumps", "_loads", "_optimistic", "max_attachments", "version")

    def __init__(
        self,
        dumps: Dumps | None = None,
        loads: Loads | None = None,
        *,
        version: int = 5,
        max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    ) -> None:
        if version not in (4, 5):
            raise ConfigurationError(f"Socket.IO protocol version must be 4 or 5, not {version!r}")
        if type(max_attachments) is not int or max_attachments < 0:
            raise ConfigurationError(
                f"max_attachments must be a non-negative int, not {max_attachments!r}"
            )
        default_dumps, default_loads = default_json()
        # Our default dumps refuses bytes with TypeError, so a plain EVENT is encoded with
        # one dumps call and no walk over its data; with a custom dumps, bytes are taken
        # out first (one walk), as it may serialise them itself.
        self._optimistic = dumps is None
        self._dumps: Dumps = default_dumps if dumps is None else dumps
        self._loads: Loads = default_loads if loads is None else loads
        if not isinstance(self._dumps([]), str):
            raise ConfigurationError("the JSON dumps function must return str, not bytes")
        self.version = version
        self.max_attachments = max_attachments

    def decoder(self) -> JsonDecoder:
        """Return a new decoder for one connection."""
        return JsonDecoder(self._loads, version=self.version, max_attachments=self.max_attachments)

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode ``packet`` as one text message, followed by its binary attachments.

        An EVENT or ACK whose data holds bytes goes out as BINARY_EVENT / BINARY_ACK (and
        one without goes out plain, whatever its type says).

        Raises:
            ConfigurationError: the data cannot be serialised by ``dumps``.
        """
        packet_type = packet.type
        data = packet.data
        buffers: list[bytes] = []
        if packet_type in _NON_EVENT_TYPES:
            head = _TYPE_CHARS[packet_type]
            payload = "" if data is None else self._serialise(data)
        else:
            if data is None:
                payload = ""
            elif self._optimistic:
                try:
                    payload = self._dumps(data)
                except TypeError:  # bytes inside (or a value that cannot be serialised)
                    payload, buffers = self._serialise_binary(data)
                except (ValueError, OverflowError, RecursionError) as exc:
                    raise _unserialisable(exc) from None
            else:  # a custom dumps may accept bytes: take them out first
                payload, buffers = self._serialise_binary(data)
            is_event = packet_type == 2 or packet_type == 5  # noqa: PLR1714 - EVENT, BINARY_EVENT
            # v5 "Packet encoding": a binary packet announces <attachments>- after its type.
            head = f"{5 if is_event else 6}{len(buffers)}-" if buffers else "23"[not is_event]
        namespace = packet.namespace
        if packet.query is not None:
            namespace = f"{namespace}?{packet.query}"
        if namespace != "/":
            head += namespace + ","
        if packet.id is not None:
            head += str(packet.id)
        message: list[str | bytes] = [head + payload]
        if buffers:
            message.extend(buffers)
        return message

    def encode_ack(self, namespace: str, ack_id: int, args: list[Any]) -> list[str | bytes]:
        """The ACK carrying ``args`` (see :meth:`Parser.encode_ack`): one ``dumps`` and one
        string built, the general :meth:`encode` only when bytes are inside."""
        if self._optimistic:
            try:
                payload = self._dumps(args)
            except TypeError:  # bytes inside: a BINARY_ACK with attachments
                pass
            except (ValueError, OverflowError, RecursionError) as exc:
                raise _unserialisable(exc) from None
            else:
                if namespace == "/":
                    return [f"3{ack_id}{payload}"]
                return [f"3{namespace},{ack_id}{payload}"]
        return self.encode(Packet(PacketType.ACK, namespace, args, ack_id))

    def encode_event(
        self, namespace: str, data: list[Any], ack_id: int | None = None
    ) -> list[str | bytes]:
        """The EVENT carrying ``data`` (see :meth:`Parser.encode_event`): one ``dumps`` and
        one string built, the general :meth:`encode` only when bytes are inside."""
        if self._optimistic:
            try:
                payload = self._dumps(data)
            except TypeError:  # bytes inside: a BINARY_EVENT with attachments
                pass
            except (ValueError, OverflowError, RecursionError) as exc:
                raise _unserialisable(exc) from None
            else:
                if namespace == "/" and ack_id is None:
                    return ["2" + payload]
                head = "2" if namespace == "/" else f"2{namespace},"
                return [head + payload if ack_id is None else f"{head}{ack_id}{payload}"]
        return self.encode(Packet(PacketType.EVENT, namespace, data, ack_id))

    def _serialise(self, data: Any) -> str:
        try:
            return self._dumps(data)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise _unserialisable(exc) from None

    def _serialise_binary(self, data: Any) -> tuple[str, list[bytes]]:
        try:
            data, buffers = deconstruct(data)
        except RecursionError:
            raise ConfigurationError("cannot serialise packet data: nested too deeply") from None
        return self._serialise(data), buffers
