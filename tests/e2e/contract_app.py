"""The server contract of the browser tests (``conftest.py``'s docstring), as a Flask app.

Written with the public API only, as a Flask-SocketIO user would write it, except for
``drop``: a real network drop cannot be asked for over Socket.IO, so that handler reaches
the client's Engine.IO session through the server's internals and closes its transport
with ``CloseReason.TRANSPORT_CLOSE``. That sends no Socket.IO DISCONNECT: the engine
answers the parked long-polling GET with an Engine.IO CLOSE packet, or closes the
WebSocket, and the client reports "transport close" and reconnects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from flask import Flask, request, send_file

from flask_realtime import ConnectionRefusedError, SocketIO, disconnect, emit, send
from flask_realtime.engine import CloseReason

PAGE = Path(__file__).resolve().parent / "pages" / "client.html"
PAGE_PATH = "/__e2e__/client.html"
PAGE_READY = "typeof io === 'function' && typeof e2e === 'object'"
"""True in the test page once our client and the page's helpers are loaded."""

SERVER_OPTIONS: dict[str, Any] = {
    "ping_interval": 1,
    "ping_timeout": 2,
    "max_http_buffer_size": 100_000,
}
"""The contract's configuration (the heartbeat and payload-size tests rely on it)."""

DROP_PARK_SECONDS = 2.0
"""How long ``drop`` waits for a long-polling client's next GET (see ``_close_transport``)."""


def create_app(**options: Any) -> tuple[Flask, SocketIO]:
    """The contract app; ``options`` add to (or override) :data:`SERVER_OPTIONS`."""
    app = Flask("e2e_contract")
    socketio = SocketIO(app, **{**SERVER_OPTIONS, **options})
    auths: dict[str, Any] = {}  # sid -> the auth payload received at connect

    @app.get(PAGE_PATH)
    def client_page() -> Any:
        return send_file(PAGE, mimetype="text/html")

    # -- namespace "/" ---------------------------------------------------------------------

    @socketio.on("connect")
    def on_connect(auth: Any) -> None:
        if isinstance(auth, dict) and auth.get("token") == "bad":
            raise ConnectionRefusedError("unauthorized", {"code": 4001})
        auths[request.sid] = auth

    @socketio.on("disconnect")
    def on_disconnect(reason: str) -> None:
        auths.pop(request.sid, None)

    @socketio.on("echo")
    def on_echo(*args: Any) -> None:
        emit("echo", *args)

    @socketio.on("message")
    def on_message(data: Any) -> None:
        send(data)

    @socketio.on("ack")
    def on_ack(*args: Any) -> tuple[Any, ...]:
        return args

    @socketio.on("whoami")
    def on_whoami() -> dict[str, Any]:
        return {
            "sid": request.sid,
            "auth": auths.get(request.sid),
            "query": request.args.to_dict(),
            "header": request.headers.get("X-E2E"),
        }

    @socketio.on("slow_ack")
    async def on_slow_ack(ms: float, value: Any) -> Any:
        await asyncio.sleep(ms / 1000)  # on the loop: other clients go on meanwhile
        return value

    @socketio.on("ask")
    def on_ask(data: Any) -> None:
        def answered(*args: Any) -> None:
            emit("answer", list(args))  # the callback runs in the asking client's context

        emit("question", data, callback=answered)

    @socketio.on("broadcast")
    def on_broadcast(data: Any) -> None:
        emit("broadcast", data, broadcast=True)

    @socketio.on("disconnect_me")
    def on_disconnect_me() -> None:
        disconnect()

    @socketio.on("drop")
    async def on_drop() -> None:
        # async def: runs on the loop thread, the only one that may touch engine sessions.
        sock = socketio.service_for(app).server.get_socket(request.sid, "/")
        if sock is not None:
            await _close_transport(sock.eio)

    # -- namespace "/chat" -----------------------------------------------------------------

    @socketio.on("connect", namespace="/chat")
    def on_chat_connect(auth: Any) -> None:
        pass  # always accepted

    @socketio.on("echo", namespace="/chat")
    def on_chat_echo(*args: Any) -> None:
        emit("echo", *args)

    @socketio.on("whereami", namespace="/chat")
    def on_whereami() -> str:
        return "/chat"

    return app, socketio


async def _close_transport(eio: Any) -> None:
    """Close ``eio``'s transport as a network drop would, without a Socket.IO DISCONNECT.

    A long-polling client only hears the Engine.IO CLOSE on a parked GET. Between two GETs
    (the previous one just answered) there is none, and closing then would make the next
    GET fail with "xhr poll error" instead: so wait, briefly, for the client to park one.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DROP_PARK_SECONDS
    # eio.transport (internal) is the session's current transport: parked when writable.
    while eio.transport_name == "polling" and not eio.transport.writable and loop.time() < deadline:
        await asyncio.sleep(0.005)
    eio.close(CloseReason.TRANSPORT_CLOSE)
