"""``ASGIApp`` under a real uvicorn, real clients over 127.0.0.1: the ASGI lifespan."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from flask_realtime.engine import EngineServer
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.runtime import ASGIApp

from .asgi_support import DEADLINE, EioClient, Served
from .engineio_support import FAST, Serve

pytestmark = pytest.mark.usefixtures("_no_server_errors")


def test_lifespan_hooks_run_on_the_server_loop(serve: Serve) -> None:
    calls: list[tuple[str, int]] = []

    def on_startup() -> None:
        calls.append(("startup", threading.get_ident()))

    async def on_shutdown() -> None:
        await asyncio.sleep(0)
        calls.append(("shutdown", threading.get_ident()))

    served = serve(on_startup=on_startup, on_shutdown=on_shutdown)
    loop_thread = served.uv.thread.ident
    assert calls == [("startup", loop_thread)]  # before uvicorn reported "started"
    served.uv.stop()
    assert calls == [("startup", loop_thread), ("shutdown", loop_thread)]


def test_async_startup_hook_is_awaited(serve: Serve) -> None:
    done = threading.Event()

    async def on_startup() -> None:
        await asyncio.sleep(0)
        done.set()

    serve(on_startup=on_startup)
    assert done.is_set()


def test_shutdown_disconnects_every_client(serve: Serve, connect: Callable[..., EioClient]) -> None:
    at_shutdown: list[tuple[bool, ...]] = []
    served: Served | None = None

    def on_shutdown() -> None:
        assert served is not None
        at_shutdown.append(tuple(s.closed for s in served.engine.sessions.values()))

    served = serve(FAST, on_shutdown=on_shutdown)
    on_ws = connect(served, ["websocket"])
    on_polling = connect(served, ["polling"])
    ws_sid, polling_sid = on_ws.sid, on_polling.sid  # the client forgets its sid on close
    served.uv.stop()
    for client in (on_ws, on_polling):
        assert client.disconnected.wait(DEADLINE), f"the {client.transport()} client not told"
    # uvicorn closes WebSockets itself (1012) before the lifespan shutdown; the ASGI app
    # closes the sessions left (polling) when it comes, before calling the hook.
    assert served.handler.close_reason(ws_sid) in {"transport close", "server shutting down"}
    assert served.handler.close_reason(polling_sid) == "server shutting down"
    assert len(at_shutdown) == 1
    assert all(at_shutdown[0])  # nothing still open for the layer above when the hook ran


class _NoHandler:
    def on_open(self, socket: object) -> None: ...

    def on_message(self, socket: object, data: str | bytes) -> None: ...

    def on_close(self, socket: object, reason: object) -> None: ...


async def test_a_startup_hook_that_raises_fails_the_startup_with_its_message() -> None:
    def on_startup() -> None:
        raise ConfigurationError("refused: run something else")

    app = ASGIApp(EngineServer(_NoHandler()), on_startup=on_startup)
    incoming = [{"type": "lifespan.startup"}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return incoming.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    # The ASGI way to refuse: the server logs the message and exits.
    assert sent == [{"type": "lifespan.startup.failed", "message": "refused: run something else"}]
