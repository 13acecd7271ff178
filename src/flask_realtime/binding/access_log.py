"""Structured logs of connections and events: ``socketio.log_connections()``.

One line per connection opened and closed on the ``flask_realtime.connections`` logger,
at INFO, with the session id, transport, client address and, on close, how long it
lasted and why it ended; with ``events=True`` one line per event received (with a
handler or not) and emitted, on ``flask_realtime.events``. Payloads are never logged unless
``payloads=True``. With ``json=True`` each message is one JSON object, ready for a log
pipeline; either way the fields are also on the record as ``record.realtime`` (a dict),
for a formatter of your own.

Like every logger of the package it adds no handler and sets no level unless asked
(``level=`` sets the level of these two loggers; the application configures the rest).
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from typing import TYPE_CHECKING, Any

from ..engine.address_limit import client_address
from ..server.observers import Observer, observe

if TYPE_CHECKING:
    from ..engine.lifecycle import CloseReason
    from ..engine.socket import EngineSocket
    from ..server.socket import Socket
    from ..typing import NamespaceName
    from .service import AppService

__all__ = ["LOG_KEY", "ConnectionLog", "install_connection_log"]

connections_logger = logging.getLogger("flask_realtime.connections")
events_logger = logging.getLogger("flask_realtime.events")


def _addresses(eio: EngineSocket, trust_forwarded: bool) -> dict[str, Any]:
    """``address``: the one ``max_connections_per_address`` counts (the peer, or with
    ``trust_forwarded_headers`` the last ``X-Forwarded-For`` entry: what the nearest proxy
    saw); ``forwarded_for``: the whole header when there is one, entries the client may
    have written itself included."""
    handshake = eio.handshake
    fields: dict[str, Any] = {
        "address": client_address(handshake.headers, handshake.remote_addr, trust_forwarded)
    }
    forwarded = handshake.headers.get("x-forwarded-for")
    if forwarded:
        fields["forwarded_for"] = forwarded
    return fields


class ConnectionLog(Observer):
    """Writes the connection (and event) lines of one app's server.

    Args:
        events: a line per event received and emitted too.
        json: each message as a JSON object (else ``key=value`` pairs).
        payloads: include events' arguments (off by default: they may hold personal data).
        trust_forwarded: the app's ``trust_forwarded_headers`` (which address to log).
    """

    def __init__(self, *, events: bool = False, json: bool = False, payloads: bool = False,
                 trust_forwarded: bool = False) -> None:  # fmt: skip
        self.events = events
        self.json = json
        self.payloads = payloads
        self.trust_forwarded = trust_forwarded
        self._opened: dict[str, float] = {}

    def for_app(self, trust_forwarded: bool) -> ConnectionLog:
        """The same settings, for an app with this ``trust_forwarded_headers``."""
        return ConnectionLog(events=self.events, json=self.json, payloads=self.payloads,
                             trust_forwarded=trust_forwarded)  # fmt: skip

    def _write(self, target: logging.Logger, what: str, fields: dict[str, Any]) -> None:
        if not target.isEnabledFor(logging.INFO):
            return
        if self.json:
            message = jsonlib.dumps({"event": what, **fields}, default=repr, ensure_ascii=False)
        else:
            pairs = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
            message = f"{what} {pairs}"
        target.info("%s", message, extra={"realtime": {"event": what, **fields}})

    def session_opened(self, eio: EngineSocket) -> None:
        self._opened[eio.sid] = time.monotonic()
        self._write(connections_logger, "connection_open", {
            "sid": eio.sid, "transport": eio.transport_name,
            **_addresses(eio, self.trust_forwarded), "protocol": eio.protocol,
        })  # fmt: skip

    def session_closed(self, eio: EngineSocket, reason: CloseReason) -> None:
        opened = self._opened.pop(eio.sid, None)
        duration = round(time.monotonic() - opened, 3) if opened is not None else None
        self._write(connections_logger, "connection_close", {
            "sid": eio.sid, "transport": eio.transport_name,
            **_addresses(eio, self.trust_forwarded), "duration": duration,
            "reason": reason.value,
        })  # fmt: skip

    def watching(self, point: str) -> bool:
        if point in ("event_received", "event_sent"):
            return self.events  # a line per event only when asked: else no cost per event
        return super().watching(point)

    def event_received(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        if self.events:
            self._event("event_in", socket.nsp.name, socket.sid, event, args)

    def event_sent(
        self, namespace: NamespaceName, event: str, args: tuple[Any, ...], to: Socket | None
    ) -> None:
        if self.events:
            self._event("event_out", namespace, to.sid if to is not None else None, event, args)

    def _event(
        self, what: str, namespace: str, sid: str | None, event: str, args: tuple[Any, ...]
    ) -> None:
        fields: dict[str, Any] = {"namespace": namespace, "sid": sid, "name": event}
        if self.payloads:
            fields["args"] = list(args)
        self._write(events_logger, what, fields)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        # Quoted (JSON) unless plainly one token: values a client chose (an event name, a
        # forwarded address) can forge neither a line nor a field.
        plain = value and value.isprintable() and not any(c in value for c in ' ="\\')
        return value if plain else jsonlib.dumps(value)  # escapes U+2028 and the like too
    if isinstance(value, (int, float)):
        return str(value)
    return jsonlib.dumps(value, default=repr, ensure_ascii=False)


LOG_KEY = "flask_realtime.connection_log"
"""Where an app's :class:`ConnectionLog` is kept in ``app.extensions``."""


def install_connection_log(service: AppService, log: ConnectionLog) -> None:
    """Write ``log``'s lines for ``service``'s app from now on, instead of those of an
    earlier call (a second call changes the settings, it does not log twice)."""
    log = log.for_app(service.options.engine.trust_forwarded_headers)
    observers = observe(service.server, service.engine)
    earlier = service.app.extensions.get(LOG_KEY)
    if isinstance(earlier, ConnectionLog):
        observers.remove(earlier)
    observers.add(log)
    service.app.extensions[LOG_KEY] = log
