"""The per-socket ``data`` of the running handler (Node's ``socket.data``), and whether
its socket was recovered (Node's ``socket.recovered``).

A dict that belongs to one socket (one client in one namespace) for its whole life:
what a handler (or a connect middleware) stores there, later handlers of the same socket
see, and ``fetch_sockets`` reports as the socket's ``data``, on this server and across the
cluster. It lives on the server's socket (:attr:`~flask_realtime.server.Socket.user_data`);
looked up on each use (the handler's scope keeps no reference to its socket).
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ContextError
from .scope import require_scope

__all__ = ["current_socket_data", "current_socket_recovered"]


def current_socket_data() -> dict[str, Any]:
    """The ``data`` dict of the socket whose handler is running.

    Raises:
        ContextError: outside a handler, or after the socket was forgotten.
    """
    scope = require_scope("socket_data", "use socketio.fetch_sockets() outside handlers")
    # The server's sockets belong to the loop; a dict lookup is safe from a worker, and
    # this socket's calls run one at a time, so nothing else replaces its data meanwhile.
    # The scope keeps no reference to the socket (that would be a cycle): look it up.
    socket = scope.ops.server.get_socket(scope.sid, scope.namespace)
    if socket is None:
        raise ContextError(f"socket {scope.sid} in {scope.namespace} is gone")
    return socket.user_data


def current_socket_recovered() -> bool:
    """Whether the socket whose handler is running recovered the session of an earlier
    connection (connection state recovery: same sid, rooms, data; missed events replayed).

    Raises:
        ContextError: outside a handler.
    """
    scope = require_scope("is_recovered()", "it is a property of a handler's client")
    socket = scope.ops.server.get_socket(scope.sid, scope.namespace)
    return socket is not None and socket.recovered
