"""The admin namespace's side of ``instrument()``: installing an app's
:class:`~.admin_ui.AdminUI`, and the handlers of the admin namespace (the UI's login and
its actions), registered once per ``SocketIO`` and finding their app's ``AdminUI``.

The login runs on the loop (an ``async def`` handler); the password check, slow on
purpose, runs on a thread (``asyncio.to_thread``). Its emits reach the admin socket after
its CONNECT reply, in order: ``session`` (with basic auth), ``config``, and in
development mode ``all_sockets``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, ConnectionRefusedError
from ..server.observers import observe
from .admin_ui import ADMIN_KEY, AdminUI

if TYPE_CHECKING:
    from .service import AppService

__all__ = ["admin_handlers", "install_admin_ui"]

logger = logging.getLogger(__name__)


def install_admin_ui(service: AppService, admin: AdminUI) -> None:
    """Make ``admin`` the admin UI of ``service``'s app (its server observed from now on).

    Raises:
        ConfigurationError: the app has an admin UI already.
    """
    if ADMIN_KEY in service.app.extensions:
        raise ConfigurationError(f"instrument() was called already for {service.app!r}")
    observers = observe(service.server, service.engine)
    admin.observers = observers
    observers.add(admin)
    service.app.extensions[ADMIN_KEY] = admin
    # Serving already: a server of a cluster reports from now on (not serving yet: from
    # its first connection; a single server waits for its first admin, admin_stats.py).
    if service.bridge.attached:
        service.bridge.call(admin.start_ticking)


def admin_handlers(read_only: bool) -> dict[str, Any]:
    """The admin namespace's handlers, by event: each finds its app's :class:`AdminUI`."""

    def current() -> AdminUI:
        from flask import current_app

        admin = current_app.extensions.get(ADMIN_KEY)
        if not isinstance(admin, AdminUI):
            raise ConnectionRefusedError("the admin UI is not enabled for this app")
        return admin

    async def connect(auth: Any = None) -> None:
        from flask import request

        admin = current()
        checked = admin.auth
        if (
            checked.required
            and not checked.knows_session(auth)
            and not await asyncio.to_thread(checked.accepts, auth)
        ):
            if not (isinstance(auth, dict) and auth.get("username")):
                # The UI's first, automatic attempt (no credentials yet): say what it needs.
                raise ConnectionRefusedError("please log in")
            raise ConnectionRefusedError("invalid credentials")  # the UI translates this one
        sid = request.sid  # type: ignore[attr-defined]
        server = admin.service.server
        if admin.auth.required and not admin.auth.knows_session(auth):
            server.emit("session", admin.auth.new_session(), namespace=admin.namespace, to=sid)
        server.emit("config", {"supportedFeatures": admin.features}, namespace=admin.namespace,
                    to=sid)  # fmt: skip
        admin.admit(sid)  # the statistics start with the first admin's login
        if admin.development:
            sockets = await admin.all_sockets()
            server.emit("all_sockets", sockets, namespace=admin.namespace, to=sid)

    def acting() -> AdminUI | None:
        """The app's admin UI, when the socket sending an action was let in (with
        ``always_connect`` it is in the namespace before its login is checked)."""
        from flask import request

        admin = current()
        sid = request.sid  # type: ignore[attr-defined]
        if admin.admitted(sid):
            return admin
        logger.warning("admin UI: an action from %s, not (or no longer) logged in, refused",
                       sid)  # fmt: skip
        return None

    async def emit(namespace: Any = None, room_filter: Any = None, event: Any = None,
                   *args: Any) -> None:  # fmt: skip
        if (admin := acting()) is not None:
            admin.emit(namespace, room_filter, event, *args)

    async def join(namespace: Any = None, room: Any = None, room_filter: Any = None) -> None:
        if (admin := acting()) is not None:
            admin.join(namespace, room, room_filter)

    async def leave(namespace: Any = None, room: Any = None, room_filter: Any = None) -> None:
        if (admin := acting()) is not None:
            admin.leave(namespace, room, room_filter)

    async def disconnect(namespace: Any = None, close: Any = False,
                         room_filter: Any = None) -> None:  # fmt: skip
        if (admin := acting()) is not None:
            admin.disconnect(namespace, close, room_filter)

    handlers: dict[str, Any] = {"connect": connect}
    if not read_only:
        handlers.update({"emit": emit, "join": join, "leave": leave, "_disconnect": disconnect})
    return handlers
