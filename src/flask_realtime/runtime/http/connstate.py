"""The life cycle of one HTTP connection (``HttpProtocol`` in ``connection.py``).

States (one enum, the legal moves in ``TRANSITIONS``)::

    NEW --accepted--> OPEN --EOF from the client--> HALF_CLOSED --lost--> CLOSED
    NEW --over the connection limit--> REFUSED (a 503, then closed)
    OPEN/HALF_CLOSED --WebSocket upgrade--> HANDED_OVER (the transport has a new protocol)
    OPEN --lost--> CLOSED
    OPEN --we close with the client's input maybe unread--> LINGERING --EOF, lost or
        ``linger_timeout``--> CLOSED (our FIN sent, the client's bytes read and dropped, so
        that the kernel does not answer them with a reset that loses our response)

Three flags stay apart, being other dimensions than the life cycle: ``_reading`` (whether
the transport reads: flow control), ``_feeding`` (inside the reader: bytes that arrive
meanwhile wait in the backlog) and ``_upgrading`` (the pending upgrade exchange, which
collects the bytes read after its request).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["LIVE", "TRANSITIONS", "ConnState"]


class ConnState(enum.Enum):
    NEW = "new"
    OPEN = "open"
    HALF_CLOSED = "half-closed"
    LINGERING = "lingering"
    REFUSED = "refused"
    HANDED_OVER = "handed over"
    CLOSED = "closed"


TRANSITIONS: Mapping[ConnState, frozenset[ConnState]] = {
    ConnState.NEW: frozenset({ConnState.OPEN, ConnState.REFUSED}),
    ConnState.OPEN: frozenset(
        {ConnState.HALF_CLOSED, ConnState.HANDED_OVER, ConnState.LINGERING, ConnState.CLOSED}
    ),
    ConnState.LINGERING: frozenset({ConnState.CLOSED}),
    ConnState.HALF_CLOSED: frozenset({ConnState.HANDED_OVER, ConnState.CLOSED}),
    ConnState.REFUSED: frozenset(),
    ConnState.HANDED_OVER: frozenset(),
    ConnState.CLOSED: frozenset(),
}
LIVE = (ConnState.OPEN, ConnState.HALF_CLOSED)
"""The states in which the connection still serves requests."""
