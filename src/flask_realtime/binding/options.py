"""The options of :class:`~flask_realtime.SocketIO`, checked and resolved once.

``SocketIO(app, **options)`` and ``init_app(app, **options)`` take Flask-SocketIO's option
names (its own, python-socketio's and python-engineio's). This module is the configuration
edge: every name is checked here, with a suggestion for a misspelt one; options that no
longer mean anything on our server are accepted with a :class:`DeprecationWarning`, so
that old code starts; strings (``serializer="msgpack"``, ``message_queue="redis://..."``)
are resolved into objects in :mod:`flask_realtime.binding.parsers` and
:mod:`flask_realtime.binding.adapters`, never further down.
"""

from __future__ import annotations

import difflib
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..engine import EngineOptions
from ..exceptions import ConfigurationError
from ..runtime.http.limits import Limits
from ..runtime.switch_interval import SWITCH_INTERVAL
from ..server.acks import DEFAULT_MAX_PENDING_ACKS
from ..server.client_limits import RatePolicy
from ..server.recovery import RecoveryOptions

__all__ = [
    "DEFAULT_HANDLER_THREADS",
    "SocketIOOptions",
    "check_names",
    "connection_rate",
    "http_limits",
    "resolve_options",
]

DEFAULT_HANDLER_THREADS = 64
"""Worker threads for ``def`` handlers, per app.

Handlers in Flask apps are mostly I/O bound (a database, an HTTP API), so the pool is
sized for waiting, not for cores: 64 threads let 64 slow handlers wait at once while the
loop keeps serving, and bound what a burst can cost (threads are started on demand and
end after a minute of idleness). Under Flask-SocketIO's threading mode every event got a
thread of its own, without bound.
"""

_DEFAULT_ENGINE = EngineOptions()
_ENGINE_NAMES = frozenset(f.name for f in fields(EngineOptions)) - {"path"}

_FACADE_NAMES = frozenset(
    {
        "manage_session",
        "message_queue",
        "channel",
        "path",
        "resource",
        "worker_threads",
        "slow_handler_warning",
        "max_queued_events",
        "gc_freeze",
        "switch_interval",
        "http_limits",
    }
)

_SERVER_NAMES = frozenset(
    {
        "always_connect",
        "namespaces",
        "json",
        "serializer",
        "logger",
        "engineio_logger",
        "connect_timeout",
        "max_namespaces_per_client",
        "connection_state_recovery",
        "max_pending_acks",
        "max_rooms_per_socket",
        "max_packets_per_second",
        "max_bytes_per_second",
        "rate_limit_policy",
    }
)

_DEPRECATED: Mapping[str, str] = {
    "async_mode": "there is one server and no async mode to pick",
    "async_handlers": "handlers of different clients always run concurrently, "
    "each client's in the order its events arrived",
    "monitor_clients": "heartbeats are always monitored",
    "allow_unsafe_werkzeug": "Werkzeug's server is not used",
    "ignore_queue": "it has no effect",
}
"""Options that meant something to Flask-SocketIO and nothing here: warned about, ignored."""

_REJECTED: Mapping[str, str] = {
    "client_manager": "python-socketio client managers do not plug into this server; "
    "pass message_queue='redis://...' instead",
}

VALID_NAMES = _ENGINE_NAMES | _FACADE_NAMES | _SERVER_NAMES
_ALL_NAMES = VALID_NAMES | _DEPRECATED.keys() | _REJECTED.keys()


@dataclass(frozen=True, slots=True)
class SocketIOOptions:
    """The resolved options of one app's Socket.IO server.

    Attributes:
        manage_session: keep a per-connection copy of the Flask session (``True``, the
            Flask-SocketIO default) or use Flask's own session handling (``False``).
        message_queue: a ``redis://`` URL or an adapter object, for several processes.
        channel: the message queue channel.
        always_connect: accept connections before the connect handler has run.
        namespaces: the namespaces clients may connect to (``"*"`` for any), or ``None``
            for those with handlers.
        json: a module-like object with ``dumps`` and ``loads`` (``flask.json`` included).
        serializer: ``"default"`` (JSON) or ``"msgpack"``.
        logger: ``True`` or a logger to log Socket.IO activity at INFO level.
        engineio_logger: the same for Engine.IO.
        connect_timeout: seconds a client may take to connect to a namespace.
        max_namespaces_per_client: namespaces one connection may join at once; past it a
            CONNECT gets ``connect_error`` (a client trying thousands of dynamic names).
        connection_state_recovery: Node's connection state recovery (a client that comes
            back soon gets its sid, rooms, data and missed events), or None (off).
        max_pending_acks: acknowledgements one socket may owe the server (``call()``,
            ``emit(callback=)``); past it the oldest fails (``CallTimeoutError``).
        max_rooms_per_socket: rooms one socket may be in; a join past it is refused (a
            warning is logged). None: no cap.
        max_packets_per_second: Socket.IO packets one connection may send per second
            (bursts of one second's worth). None: no limit.
        max_bytes_per_second: bytes one connection may send per second. None: no limit.
        rate_limit_policy: what happens to a packet past either rate: ``"drop"``,
            ``"warn"`` (handled, a warning logged) or ``"disconnect"``.
        worker_threads: the size of the pool that runs ``def`` handlers.
        max_queued_events: handler calls one connection may have waiting or running; past
            it the server stops reading from that client until half of them are done (its
            TCP window fills and its sends wait), so a flood holds bounded memory.
        slow_handler_warning: log a warning for a handler running longer than this many
            seconds (``None`` disables it).
        gc_freeze: where the server owns the process (``run()`` in its main thread, its
            workers, the gunicorn worker class), freeze what survives each full garbage
            collection, so that full collections walk only newer objects and stay short
            with many clients connected (``runtime/gc_policy.py``); False leaves the
            collector as Python sets it.
        switch_interval: where the server owns the process (as ``gc_freeze``), the GIL's
            switch interval in seconds (``sys.setswitchinterval``), so that threads busy
            with ``def`` handlers keep the event loop waiting at most that long
            (``runtime/switch_interval.py``); set only while the process has Python's
            default (5 ms). None leaves it as it is.
        http_limits: the limits and timeouts of our HTTP server (``run()``, its workers,
            the gunicorn worker class; not uvicorn's or another ASGI server's): given as a
            mapping of the names in ``docs/limits.md`` ("HTTP server") to values, the rest
            keeping their defaults.
        engine: the Engine.IO options (``path`` included).
    """

    manage_session: bool = True
    message_queue: object | None = None
    channel: str = "flask-socketio"
    always_connect: bool = False
    namespaces: list[str] | Literal["*"] | None = None
    json: Any = None
    serializer: str = "default"
    logger: bool | logging.Logger = False
    engineio_logger: bool | logging.Logger = False
    connect_timeout: float = 45.0
    max_namespaces_per_client: int = 100
    connection_state_recovery: RecoveryOptions | None = None
    max_pending_acks: int = DEFAULT_MAX_PENDING_ACKS
    max_rooms_per_socket: int | None = 10_000
    max_packets_per_second: float | None = None
    max_bytes_per_second: float | None = None
    rate_limit_policy: str = "disconnect"
    worker_threads: int = DEFAULT_HANDLER_THREADS
    max_queued_events: int = 256
    slow_handler_warning: float | None = 5.0
    gc_freeze: bool = True
    switch_interval: float | None = SWITCH_INTERVAL
    http_limits: Limits = field(default_factory=Limits)
    engine: EngineOptions = field(default_factory=EngineOptions)


def check_names(
    options: Mapping[str, Any], where: str = "SocketIO()", *, warn: bool = True
) -> None:
    """Check option names; warn about deprecated ones (unless ``warn`` is False).

    Raises:
        ConfigurationError: an unknown name (the message suggests the closest valid one),
            or an option we cannot honour.
    """
    for name in options:
        if name in VALID_NAMES:
            continue
        if name in _DEPRECATED:
            if options[name] is None or not warn:
                continue  # the default spelt out (async_mode=None): nothing to say
            warnings.warn(
                f"{where}: the {name!r} option is ignored: {_DEPRECATED[name]}",
                DeprecationWarning,
                stacklevel=3,
            )
            continue
        if name in _REJECTED:
            raise ConfigurationError(f"{name}: {_REJECTED[name]}")
        close = difflib.get_close_matches(name, sorted(_ALL_NAMES), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "it is not an option of SocketIO"
        raise ConfigurationError(f"{name}: {hint}")


def resolve_options(options: Mapping[str, Any]) -> SocketIOOptions:
    """Turn the accumulated keyword options into a :class:`SocketIOOptions`.

    Raises:
        ConfigurationError: an unknown name or a value of the wrong kind.
    """
    check_names(options, warn=False)  # the callers warned when the options were given
    given = {k: v for k, v in options.items() if k not in _DEPRECATED}
    path = given.pop("path", None) or given.pop("resource", None) or "socket.io"
    given.pop("resource", None)
    if not isinstance(path, str):
        raise ConfigurationError(f"path must be a string such as 'socket.io', not {path!r}")
    engine_kwargs: dict[str, Any] = {k: given.pop(k) for k in list(given) if k in _ENGINE_NAMES}
    interval = engine_kwargs.get("ping_interval")
    if isinstance(interval, (tuple, list)):
        # python-engineio: (interval, grace), the grace added to the server's wait for a pong.
        if len(interval) != 2:
            raise ConfigurationError("ping_interval must be a number or (interval, grace)")
        engine_kwargs["ping_interval"] = interval[0]
        base = engine_kwargs.get("ping_timeout", _DEFAULT_ENGINE.ping_timeout)
        engine_kwargs["ping_timeout"] = base + interval[1]
    transports = engine_kwargs.get("transports")
    if isinstance(transports, list):
        engine_kwargs["transports"] = tuple(transports)
    try:
        engine = EngineOptions(path=path.strip("/") or "socket.io", **engine_kwargs)
    except TypeError as exc:  # a value EngineOptions could not take
        raise ConfigurationError(str(exc)) from None
    given["connection_state_recovery"] = RecoveryOptions.from_setting(
        given.get("connection_state_recovery")
    )
    if "http_limits" in given:
        given["http_limits"] = http_limits(given["http_limits"])
    resolved = SocketIOOptions(engine=engine, **given)
    _check_values(resolved)
    return resolved


_LIMIT_NAMES = tuple(f.name for f in fields(Limits))


def http_limits(setting: object) -> Limits:
    """The HTTP server's :class:`~flask_realtime.runtime.Limits` from the ``http_limits``
    option: None (the defaults), a mapping of limit names to values, or a ``Limits``.

    Raises:
        ConfigurationError: not a mapping, an unknown name (with the closest valid one),
            or a value that is not a positive number.
    """
    if setting is None:
        return Limits()
    if isinstance(setting, Limits):
        return setting
    if not isinstance(setting, Mapping):
        raise ConfigurationError(
            "http_limits must be a dict of limit names to values, such as "
            f"{{'request_timeout': 600}}, not {setting!r}"
        )
    for name in setting:
        if name not in _LIMIT_NAMES:
            close = difflib.get_close_matches(str(name), _LIMIT_NAMES, n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]}?" if close else f"the names are {', '.join(_LIMIT_NAMES)}"
            )
            raise ConfigurationError(
                f"http_limits: {name!r} is not a limit of the HTTP server: {hint}"
            )
    return Limits(**setting)


def _check_values(options: SocketIOOptions) -> None:
    if not isinstance(options.worker_threads, int) or options.worker_threads < 1:
        raise ConfigurationError(
            f"worker_threads must be a positive int, not {options.worker_threads!r}"
        )
    queued = options.max_queued_events
    if type(queued) is not int or queued < 2:
        raise ConfigurationError(f"max_queued_events must be an int of 2 or more, not {queued!r}")
    warn_after = options.slow_handler_warning
    if warn_after is not None and (not isinstance(warn_after, (int, float)) or warn_after <= 0):
        raise ConfigurationError(
            f"slow_handler_warning must be a positive number of seconds or None, not {warn_after!r}"
        )
    if not isinstance(options.gc_freeze, bool):
        raise ConfigurationError(f"gc_freeze must be True or False, not {options.gc_freeze!r}")
    interval = options.switch_interval
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or not 1e-6 <= interval <= 1  # nan fails too; CPython rounds below 1 µs to 0
    ):
        raise ConfigurationError(
            "switch_interval must be a number of seconds from 0.000001 to 1, or None, "
            f"not {interval!r}"
        )
    if options.serializer not in ("default", "json", "msgpack"):
        raise ConfigurationError(
            f"serializer must be 'default' or 'msgpack', not {options.serializer!r}"
            + (
                " (pickle is never used: it runs code from the network)"
                if options.serializer == "pickle"
                else ""
            )
        )
    json_module = options.json
    if json_module is not None and not (
        callable(getattr(json_module, "dumps", None))
        and callable(getattr(json_module, "loads", None))
    ):
        raise ConfigurationError(
            "json must have dumps() and loads() functions, like the json module"
        )
    if options.connect_timeout <= 0:
        raise ConfigurationError("connect_timeout must be a positive number of seconds")
    limit = options.max_namespaces_per_client
    if type(limit) is not int or limit < 1:
        raise ConfigurationError(f"max_namespaces_per_client must be a positive int, not {limit!r}")
    _check_client_limits(options)
    namespaces = options.namespaces
    if namespaces is not None and namespaces != "*" and not isinstance(namespaces, (list, tuple)):
        raise ConfigurationError(f"namespaces must be a list of names or '*', not {namespaces!r}")


def _check_client_limits(options: SocketIOOptions) -> None:
    for name in ("max_pending_acks", "max_rooms_per_socket"):
        value = getattr(options, name)
        if (value is not None or name == "max_pending_acks") and (
            type(value) is not int or value < 1
        ):
            raise ConfigurationError(f"{name} must be a positive int, not {value!r}")
    for name in ("max_packets_per_second", "max_bytes_per_second"):
        value = getattr(options, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
        ):
            raise ConfigurationError(f"{name} must be a positive number or None, not {value!r}")
    policies = [policy.value for policy in RatePolicy]
    if options.rate_limit_policy not in policies:
        raise ConfigurationError(
            f"rate_limit_policy must be one of {policies}, not {options.rate_limit_policy!r}"
        )


def connection_rate(
    options: SocketIOOptions,
) -> tuple[float | None, float | None, RatePolicy] | None:
    """The per-connection rates for the server, or None when neither is set (no check)."""
    packets, size = options.max_packets_per_second, options.max_bytes_per_second
    if packets is None and size is None:
        return None
    return packets, size, RatePolicy(options.rate_limit_policy)
