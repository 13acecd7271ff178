"""``socketio.asgi_app(app)``: the whole app as one ASGI application.

For deployments that standardise on an ASGI server (uvicorn, hypercorn, granian)::

    # asgi.py
    from myapp import app, socketio
    application = socketio.asgi_app(app)

    $ uvicorn asgi:application

Socket.IO is served natively on the ASGI server's event loop; other requests go to the
Flask app through a2wsgi (``pip install flask-realtime[asgi]``). ``socketio.run()`` stays
the faster choice: see ``runtime/asgi.py`` for the trade-off.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..exceptions import ConfigurationError
from ..runtime import ASGIApp, Receive, Scope, Send
from .deployment import asgi_server_workers, warn_several_workers

if TYPE_CHECKING:
    from .service import AppService

__all__ = ["FlaskASGIApp"]


class FlaskASGIApp:
    """An app's Socket.IO service and its Flask routes behind one ASGI callable.

    The app's Socket.IO service binds to the loop of the first ASGI event it sees (the
    lifespan startup when the server sends one), and unbinds at lifespan shutdown.
    """

    def __init__(self, service: AppService) -> None:
        self._bridge = service.bridge
        self._message_queue = service.options.message_queue
        self._host = service.host
        self._inner = ASGIApp(
            service.engine,
            service.app,
            on_startup=self._bind,
            on_shutdown=self._unbind,
            timer=service.host.timer,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._bridge.loop is not asyncio.get_running_loop():
            await self._bind()
        await self._inner(scope, receive, send)

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        bridge = self._bridge
        if bridge.loop is loop:
            return
        if bridge.attached:
            raise ConfigurationError(
                "this app's Socket.IO service already runs on another event loop (was "
                "socketio.run(), the test client or socketio.emit used before the ASGI "
                "server started?)"
            )
        await self._host.attach()
        # Called from the ASGI server's own startup: its configuration is on the stack.
        found = asgi_server_workers()
        if found is not None and found[2]:
            warn_several_workers(found[0], found[1], self._message_queue)

    async def _unbind(self) -> None:
        if self._bridge.loop is asyncio.get_running_loop():
            await self._host.detach()
