"""The admin UI's actions: join, leave, disconnect and emit, on the sockets of a namespace
(all of them, or those of a room: a socket id is a room), carried out across the cluster
by the adapter.

:class:`AdminActions` is the part of :class:`~.admin_ui.AdminUI` that carries them out;
the admin namespace's handlers (``admin_handlers.py``) call it for the sockets that were
let in, and read-only mode registers none of them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..server.adapter import BroadcastOptions

if TYPE_CHECKING:
    from .service import AppService

__all__ = ["AdminActions"]

logger = logging.getLogger("flask_realtime.binding.admin_ui")  # the lines keep their name


class AdminActions:
    """The UI's actions (see the module docstring; loop thread)."""

    service: AppService

    def join(self, namespace: Any, room: Any, room_filter: Any = None) -> None:
        """Make the sockets of ``namespace`` in ``room_filter`` (all: None) join ``room``."""
        selection = _selection(room_filter)
        if isinstance(namespace, str) and isinstance(room, str) and selection is not None:
            self.service.server.adapter.add_sockets(namespace, selection, (room,))

    def leave(self, namespace: Any, room: Any, room_filter: Any = None) -> None:
        """Make the sockets of ``namespace`` in ``room_filter`` (all: None) leave ``room``."""
        selection = _selection(room_filter)
        if isinstance(namespace, str) and isinstance(room, str) and selection is not None:
            self.service.server.adapter.del_sockets(namespace, selection, (room,))

    def disconnect(self, namespace: Any, close: Any, room_filter: Any = None) -> None:
        """Disconnect the sockets of ``namespace`` in ``room_filter`` (``close``: their
        whole connection)."""
        selection = _selection(room_filter)
        if isinstance(namespace, str) and selection is not None:
            adapter = self.service.server.adapter
            adapter.disconnect_sockets(namespace, selection, close=bool(close))

    def emit(self, namespace: Any, room_filter: Any, event: Any, *args: Any) -> None:
        """Emit ``event`` to the sockets of ``namespace`` in ``room_filter`` (all: None)."""
        selection = _selection(room_filter)
        if not (isinstance(namespace, str) and isinstance(event, str)) or selection is None:
            return
        to = room_filter if selection.rooms else None
        try:
            self.service.server.emit(event, *args, namespace=namespace, to=to)
        except ConfigurationError as exc:  # a reserved name, arguments that do not encode
            logger.info("admin UI: emit of %r refused: %s", event, exc)


def _selection(room_filter: Any) -> BroadcastOptions | None:
    """The sockets an action applies to: those of a room (a socket id is a room), all of
    the namespace for no filter, none for a filter of another type (never "all" by
    mistake)."""
    if room_filter is None or room_filter == "":
        return BroadcastOptions()
    if isinstance(room_filter, str):
        return BroadcastOptions(frozenset((room_filter,)))
    return None
