"""The Socket.IO parsers of an app, chosen from its options, and the argument snapshot."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import json as flask_json
from flask.json.provider import DefaultJSONProvider

from ..exceptions import ConfigurationError
from ..protocol.parsers import JsonParser, MsgpackParser, Parser
from ..protocol.socketio import Packet, PacketType

if TYPE_CHECKING:
    from flask import Flask

    from .options import SocketIOOptions

__all__ = ["AppParsers", "build_parsers"]

_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


class AppParsers:
    """The parsers of one app: for v5 clients, for socket.io 2.x clients, and a trusted copy.

    Attributes:
        parser: encodes and decodes for Engine.IO v4 clients, and every broadcast.
        legacy: the JSON parser for socket.io 2.x (Engine.IO v3) clients.
        trusted: reads back what the app itself encoded (the snapshot, the test client):
            the attachment limit that guards against clients does not apply to the app's
            own data.
    """

    __slots__ = ("legacy", "parser", "trusted")

    def __init__(self, app: Flask, options: SocketIOOptions) -> None:
        self.parser, self.legacy = build_parsers(app, options)
        self.trusted: Parser = copy.copy(self.parser)
        if isinstance(self.trusted, JsonParser):
            self.trusted.max_attachments = sys.maxsize

    def snapshot(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """A copy of event arguments as the wire will carry them, taken now.

        An emit from a thread is encoded later, on the loop; without a copy, a handler that
        changes a dict after emitting it would send the change (Flask-SocketIO encodes at
        once). The copy is an encode and decode with the app's parser, made in the calling
        thread, so data that cannot be serialised fails there, in the handler. Scalars
        (the common case) are returned as they are.

        Raises:
            ConfigurationError: the arguments cannot be serialised.
        """
        for arg in args:
            if type(arg) not in _SCALARS:
                break
        else:
            return args
        decoder = self.trusted.decoder()
        packet = None
        for piece in self.parser.encode(Packet(PacketType.EVENT, "/", ["snapshot", *args])):
            packet = decoder.feed(piece)
        if packet is None:  # pragma: no cover - a parser decodes what it encoded
            raise ConfigurationError("the parser could not read back what it encoded")
        return tuple(packet.data[1:])


def build_parsers(app: Flask, options: SocketIOOptions) -> tuple[Parser, Parser]:
    """The parser for v5 clients and the one for socket.io 2.x (v4) clients.

    JSON: the ``json`` option when given (``flask.json`` means the app's provider), else
    the app's JSON provider when the app installed one of its own, else the fast default
    (orjson). ``serializer="msgpack"`` selects the msgpack parser.
    """
    dumps: Callable[[Any], str] | None = None
    loads: Callable[[str], Any] | None = None
    json_module = options.json
    if json_module is flask_json or (
        json_module is None and type(app.json) is not DefaultJSONProvider
    ):
        dumps, loads = app.json.dumps, app.json.loads
    elif json_module is not None:
        dumps, loads = json_module.dumps, json_module.loads
    legacy = JsonParser(dumps, loads, version=4)
    if options.serializer == "msgpack":
        return MsgpackParser(), legacy
    return JsonParser(dumps, loads), legacy
