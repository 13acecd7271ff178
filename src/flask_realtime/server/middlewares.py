"""What runs around a socket's handlers besides them: middlewares and outgoing listeners.

Node's socket.io has three such hooks, and the registry keeps each per namespace
(:class:`~flask_realtime.server.registry.HandlerSet`):

- **connect middlewares** (Node's ``namespace.use((socket, next) => ...)``): run in the
  order they were added, before the connect handler, as calls of kind ``"connect"``
  through the invoker (so the Flask facade runs them with the handshake's request
  context). One that raises ``ConnectionRefusedError(message, data)`` or returns False
  refuses the client, who gets CONNECT_ERROR ``{message, data}`` (the official client's
  ``connect_error`` with ``err.message`` and ``err.data``); the later middlewares and the
  connect handler do not run. ``Socket.open`` chains them.
- **event middlewares** (Node's ``socket.use((packet, next) => ...)``): a namespace's
  ``gate`` puts them in front of the handler of each event; the framework above decides
  how they run (the facade: in the handler's own call, before it, see
  ``binding/event_middlewares.py``). One that raises drops the event: the exception goes
  to the namespace's error handler (Node: the socket's ``error`` event), whose return
  value is the acknowledgement, else to the log.
- **outgoing listeners** (Node's ``socket.onAnyOutgoing``): :func:`notify_outgoing` calls
  them with every event emitted to a socket of the namespace, broadcasts included (also
  those a cluster adapter delivers from other servers), on the loop thread, before the
  packet is written. They cost one boolean test per emit while no namespace has any
  (``HandlerRegistry.outgoing_watched``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket

__all__ = ["notify_outgoing"]

logger = logging.getLogger(__name__)


def notify_outgoing(socket: Socket, data: list[Any]) -> None:
    """Tell the outgoing listeners of ``socket``'s namespace of the event ``data``
    (``[event, *args]``) emitted to it; a listener that raises is logged and skipped."""
    listeners = socket.nsp.handlers.outgoing
    if not listeners:
        return
    sid = socket.sid
    for listener in listeners:
        try:
            listener(sid, *data)
        except Exception:
            logger.exception("the outgoing listener %r failed for %r", listener, data[0])
