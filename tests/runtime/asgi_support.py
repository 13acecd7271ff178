"""Helpers of the ASGI tests: ``ASGIApp`` under a real uvicorn on a background thread.

:class:`UvicornThread` runs ``uvicorn.Server`` on its own event loop in a thread and stops it
the way uvicorn stops on SIGTERM (``should_exit``), so the ASGI lifespan runs both ways.
:class:`RecordingEcho` is the Engine.IO handler: it echoes every message and records what
the server saw (opens, messages, closes with their reasons) for the tests to wait on. A
text message ``flood:<count>:<size>`` makes it send ``count`` messages of ``size``
characters, a few per loop iteration, as a busy application would. :class:`Served` bundles
the three (:func:`start_served`); :class:`EioClient` is python-engineio's client with a
record of what it got; :class:`ErrorLog` catches errors the servers log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import engineio
import flask
import pytest
import requests
import uvicorn
from engineio import packet

from flask_realtime.engine import (
    EngineOptions,
    EngineServer,
    EngineSocket,
    OutgoingMessage,
)
from flask_realtime.runtime.asgi import ASGIApp
from support.recorder import RecordingHandler
from support.waiting import wait_until

T = TypeVar("T")

DEADLINE = 5.0
FLOOD_BATCH = 4
"""Messages the flood sends per loop iteration: well under the tests' ``max_ws_queue``."""


class RecordingEcho(RecordingHandler):
    """The shared recording echo handler (:class:`support.recorder.RecordingHandler`); a
    text message ``flood:<count>:<size>`` starts a flood instead of the echo."""

    def __init__(self) -> None:
        super().__init__(timeout=DEADLINE)
        self._floods: set[asyncio.Task[None]] = set()

    def answer(self, socket: EngineSocket, data: str | bytes) -> None:
        if isinstance(data, str) and data.startswith("flood:"):
            _, count, size = data.split(":")
            task = asyncio.get_running_loop().create_task(_flood(socket, int(count), int(size)))
            self._floods.add(task)
            task.add_done_callback(self._floods.discard)
        else:
            super().answer(socket, data)


async def _flood(socket: EngineSocket, count: int, size: int) -> None:
    filler = "x" * size
    for i in range(count):
        if socket.closed:
            return
        socket.send(OutgoingMessage(f"{i}:{filler}"))
        if i % FLOOD_BATCH == FLOOD_BATCH - 1:
            await asyncio.sleep(0)  # let the writers run, as any other task would


class UvicornThread:
    """A ``uvicorn.Server`` serving ``app`` on 127.0.0.1 from a thread with its own loop."""

    def __init__(self, app: ASGIApp, *, timeout: float = 10.0) -> None:
        self.app = app
        self.timeout = timeout
        # log_config=None: uvicorn's loggers propagate to the root logger (pytest sees
        # them) and the process's logging configuration is left alone.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", log_config=None
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="uvicorn-test", daemon=True)
        self.error: BaseException | None = None
        self.leftover: list[str] = []
        self.port = 0

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.serve())
        except BaseException as exc:  # reported by start()/stop()
            self.error = exc
        finally:
            # A clean stop leaves no task behind: what is left is reported by stop().
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            self.leftover = [repr(t) for t in pending]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self) -> UvicornThread:
        self.thread.start()
        wait_until(
            lambda: self.server.started or not self.thread.is_alive(),
            self.timeout,
            "uvicorn to start",
        )
        if not self.server.started:
            raise RuntimeError(f"uvicorn did not start: {self.error!r}")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit (as on SIGTERM) and join its thread, with a deadline."""
        if not self.thread.is_alive():
            return
        self.server.should_exit = True
        self.thread.join(self.timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(self.timeout)
            pytest.fail(f"uvicorn did not stop within {self.timeout} s")
        if self.error is not None:
            raise self.error
        assert not self.leftover, f"tasks left running after uvicorn stopped: {self.leftover}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], T], timeout: float = DEADLINE) -> T:
        """Run ``fn`` on the server's loop thread (which owns the engine); its result."""
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn())
            except BaseException as exc:
                result.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return result.result(timeout)


def make_flask_app() -> flask.Flask:
    app = flask.Flask("asgi_test")

    @app.get("/hello")
    def hello() -> str:
        return "hello from flask"

    @app.post("/echo")
    def echo() -> flask.Response:
        return flask.Response(flask.request.get_data(), content_type="application/octet-stream")

    return app


@dataclass
class Served:
    """An echo engine behind ``ASGIApp`` behind uvicorn."""

    uv: UvicornThread
    handler: RecordingEcho
    engine: EngineServer

    @property
    def url(self) -> str:
        return self.uv.url

    @property
    def path(self) -> str:
        return self.engine.options.url_path

    def eio(self, query: str, *, ws: bool = False) -> str:
        """The Engine.IO endpoint URL with ``query``."""
        base = self.uv.ws_url if ws else self.uv.url
        return f"{base}{self.path}?{query}"

    def alive(self, sid: str) -> bool:
        """True while the engine knows session ``sid``."""
        return self.uv.call(lambda: sid in self.engine.sessions)

    def transport_of(self, sid: str) -> str | None:
        def name() -> str | None:
            session = self.engine.sessions.get(sid)
            return session.transport_name if session is not None else None

        return self.uv.call(name)

    def parked(self, sid: str) -> bool:
        """True when a polling GET of ``sid`` is parked on the server."""

        def check() -> bool:
            session = self.engine.sessions.get(sid)
            return session is not None and session.transport.writable

        return self.uv.call(check)

    def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to ``sid`` from the server side (on the loop thread)."""
        self.uv.call(lambda: self.engine.sessions[sid].send(OutgoingMessage(data)))


class ErrorLog(logging.Handler):
    """Collects ERROR records of uvicorn and our package: a crashed ASGI call shows here."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("uvicorn", "flask_realtime")):
            self.records.append(record)

    def check(self) -> None:
        records, self.records = self.records, []
        assert not records, [r.getMessage() for r in records]


def start_served(options: EngineOptions, **kwargs: Any) -> Served:
    """An echo engine with ``options`` behind ``ASGIApp(engine, **kwargs)``, started."""
    handler = RecordingEcho()
    engine = EngineServer(handler, options)
    return Served(UvicornThread(ASGIApp(engine, **kwargs)).start(), handler, engine)


class EioClient(engineio.Client):
    """python-engineio's client, recording messages, pings and the disconnect."""

    def __init__(self) -> None:
        self.session_http = requests.Session()
        super().__init__(http_session=self.session_http, handle_sigint=False)
        self.messages: queue.Queue[str | bytes] = queue.Queue()
        self.pings = 0
        self.disconnected = threading.Event()
        self.on("message", self.messages.put)
        self.on("disconnect", lambda *reason: self.disconnected.set())

    def _receive_packet(self, pkt: packet.Packet) -> None:
        if pkt.packet_type == packet.PING:
            self.pings += 1
        super()._receive_packet(pkt)

    def next_messages(self, count: int, timeout: float = DEADLINE) -> list[str | bytes]:
        out = []
        for _ in range(count):
            try:
                out.append(self.messages.get(timeout=timeout))
            except queue.Empty:
                pytest.fail(f"got {len(out)} of {count} messages within {timeout} s")
        return out

    def close(self) -> None:
        self.disconnect()
        if self.read_loop_task is not None:
            self.read_loop_task.join(DEADLINE)
        if self.ws is not None:
            # After a close from the server, websocket-client's close() is a no-op that
            # leaves the socket open: close it here.
            self.ws.shutdown()
        self.session_http.close()
