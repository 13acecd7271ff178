"""What one Flask app's Socket.IO service is made of, built once by ``init_app``.

An :class:`AppState` lives in ``app.extensions["flask_realtime"]`` (the ``SocketIO`` object
itself stays in ``app.extensions["socketio"]``, where Flask-SocketIO code looks for it).
It holds the resolved options and the objects built from them: the parser, the adapter,
the :class:`~flask_realtime.server.SocketIOServer`, the Engine.IO server, the bridge to
the loop, the worker pool and the invoker, and the :class:`RuntimeHost` that owns the
loop. Strings become objects here, and nowhere else (``serializer="msgpack"``,
``message_queue="redis://..."``).
"""

from __future__ import annotations

import copy
import importlib
import logging
import sys
from typing import TYPE_CHECKING, Any

from flask import json as flask_json
from flask.json.provider import DefaultJSONProvider

from .bridge import LoopBridge
from .engine import EngineServer
from .exceptions import ConfigurationError
from .invoker import FlaskInvoker
from .protocol.parsers import JsonParser, MsgpackParser, Parser
from .protocol.socketio import Packet, PacketType
from .runtime import WorkerPool
from .runtime_host import RuntimeHost
from .server import Adapter, SocketIOServer

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask

    from .extension import SocketIO
    from .options import SocketIOOptions

__all__ = ["STATE_KEY", "AppState", "build_parsers", "resolve_adapter"]

_SCALARS = frozenset({str, int, float, bool, type(None), bytes})

STATE_KEY = "flask_realtime"
"""The key of an app's :class:`AppState` in ``app.extensions``."""


class AppState:
    """The Socket.IO service of one app (see the module docstring).

    Args:
        socketio: the extension object that was bound to the app.
        app: the app.
        options: the resolved options.
    """

    def __init__(self, socketio: SocketIO, app: Flask, options: SocketIOOptions) -> None:
        self.socketio = socketio
        self.app = app
        self.options = options
        parser, legacy = build_parsers(app, options)
        self.parser: Parser = parser
        # Reads back what the app itself emitted (the snapshot, the test client): the
        # attachment limit that guards against clients does not apply to the app's data.
        self.trusted_parser: Parser = copy.copy(parser)
        if isinstance(self.trusted_parser, JsonParser):
            self.trusted_parser.max_attachments = sys.maxsize
        self.bridge = LoopBridge()
        self.pool = WorkerPool(
            options.worker_threads, name=f"flask-realtime-{app.name}", idle_timeout=60.0
        )
        self.invoker = FlaskInvoker(self, self.bridge, self.pool)
        self.server = SocketIOServer(
            parser=parser,
            legacy_parser=legacy,
            adapter=resolve_adapter(options.message_queue, options.channel),
            invoker=self.invoker,
            always_connect=options.always_connect,
            namespaces=options.namespaces,
            connect_timeout=options.connect_timeout,
        )
        self.engine = EngineServer(self.server, options.engine)
        self.host = RuntimeHost(self)
        _configure_logging(options)

    def error_handler(self, namespace: str) -> Callable[[Exception], Any] | None:
        """The error handler for ``namespace``: its own, else the default one, else None."""
        return self.socketio.error_handler_for(namespace)

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
        decoder = self.trusted_parser.decoder()
        packet = None
        for piece in self.parser.encode(Packet(PacketType.EVENT, "/", ["snapshot", *args])):
            packet = decoder.feed(piece)
        if packet is None:  # pragma: no cover - a parser decodes what it encoded
            raise ConfigurationError("the parser could not read back what it encoded")
        return tuple(packet.data[1:])

    def ensure_loop(self) -> LoopBridge:
        """The bridge to this app's loop, starting the embedded loop if none runs yet."""
        if not self.bridge.attached:
            self.host.ensure_loop()
        return self.bridge


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


def resolve_adapter(message_queue: object | None, channel: str) -> Adapter | None:
    """The adapter for ``message_queue``: None (in memory), an adapter object, or a URL.

    Raises:
        ConfigurationError: a URL whose adapter is not available.
    """
    if message_queue is None:
        return None
    if isinstance(message_queue, Adapter):
        return message_queue
    if not isinstance(message_queue, str):
        raise ConfigurationError(
            f"message_queue must be a URL such as 'redis://localhost:6379' or an adapter "
            f"object, not {message_queue!r}"
        )
    if not message_queue.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(
            f"message_queue {message_queue!r}: only Redis URLs (redis://, rediss://, unix://) "
            "are supported"
        )
    try:
        module = importlib.import_module("flask_realtime.adapters.redis")
    except ImportError:
        raise ConfigurationError(
            "message_queue needs the Redis adapter (flask_realtime.adapters.redis), which "
            "this installation does not have; leave message_queue out to run one process"
        ) from None
    from_url = getattr(module, "from_url", None)
    if from_url is None:
        raise ConfigurationError("flask_realtime.adapters.redis has no from_url() factory")
    adapter: Adapter = from_url(message_queue, channel=channel)
    return adapter


class _Forward(logging.Handler):
    """Hands our library records to the logger an application passed as ``logger=``."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


def _configure_logging(options: SocketIOOptions) -> None:
    """Honour ``logger`` and ``engineio_logger`` (Flask-SocketIO's debugging switches).

    ``True`` turns on INFO logging of that layer (with a stderr handler when logging is
    not configured at all, as werkzeug does for its own logs); a logger object receives
    the records. ``False`` leaves logging alone: a polite library sets no levels unasked.
    """
    for value, names in (
        (options.logger, ("flask_realtime.server",)),
        (options.engineio_logger, ("flask_realtime.engine", "flask_realtime.runtime")),
    ):
        if value is False or value is None:
            continue
        for name in names:
            library_logger = logging.getLogger(name)
            if isinstance(value, logging.Logger):
                if not any(
                    isinstance(h, _Forward) and h.target is value for h in library_logger.handlers
                ):
                    library_logger.addHandler(_Forward(value))
                library_logger.setLevel(logging.INFO)
            elif value:
                library_logger.setLevel(logging.INFO)
                if not logging.root.handlers and not library_logger.handlers:
                    library_logger.addHandler(logging.StreamHandler())
