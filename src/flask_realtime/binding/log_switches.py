"""Flask-SocketIO's debugging switches ``logger`` and ``engineio_logger``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import EngineServer
    from ..server import SocketIOServer
    from .options import SocketIOOptions

__all__ = ["configure_logging"]


class _Forward(logging.Handler):
    """Hands our library records to the logger an application passed as ``logger=``."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


def configure_logging(
    options: SocketIOOptions, server: SocketIOServer, engine: EngineServer
) -> None:
    """Honour ``logger`` and ``engineio_logger`` (Flask-SocketIO's debugging switches).

    ``True`` turns on INFO logging of that layer (with a stderr handler when logging is
    not configured at all, as werkzeug does for its own logs); a logger object receives
    the records. ``False`` leaves logging alone: a polite library sets no levels unasked.
    With ``logger`` each event received and emitted is logged (name, sid, namespace; never
    the data), as python-socketio does; with ``engineio_logger`` each Engine.IO packet
    received and message sent (its data cut at 100 characters). Off, they cost one
    attribute test per event.
    """
    server.log_events = bool(options.logger)
    engine.log_packets = bool(options.engineio_logger)
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
