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
from .deployment import asgi_server_workers, refuse_several_workers

if TYPE_CHECKING:
    from .service import AppService

__all__ = ["FlaskASGIApp"]


class FlaskASGIApp:
    """An app's Socket.IO service and its Flask routes behind one ASGI callable.

    The app's Socket.IO service binds to the loop of the first ASGI event it sees (the
    lifespan startup when the server sends one), and unbinds at lifespan shutdown. Under
    several worker processes of the ASGI server, the startup is refused unless the app has
    a ``message_queue`` and ``sticky_sessions`` says every client stays on one worker
    (``deployment.py``).
    """

    def __init__(self, service: AppService, *, sticky_sessions: bool = False) -> None:
        self._bridge = service.bridge
        self._message_queue = service.options.message_queue
        self._sticky_sessions = sticky_sessions
        self._host = service.host
        self._inner = ASGIApp(
            service.engine,
            service.app,
            on_startup=self._bind,
            on_shutdown=self._unbind,
            timer=service.host.timer,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and self._bridge.loop is not asyncio.get_running_loop():
            await self._bind()  # a server that sends no lifespan events
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
        # Called from the ASGI server's own startup: its configuration is on the stack.
        found = asgi_server_workers()
        if found is not None:
            refuse_several_workers(*found, message_queue=self._message_queue,
                                   sticky_sessions=self._sticky_sessions)  # fmt: skip
        await self._host.attach()

    async def _unbind(self) -> None:
        if self._bridge.loop is asyncio.get_running_loop():
            await self._host.detach()
