"""Fixtures of the runtime's HTTP tests: servers on loopback in a background thread, and
raw clients to them (the client itself is in ``httpkit.py``); the app and endpoint of the
``test_http_*`` modules; the uvicorn servers and clients of the ``test_asgi_*`` modules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from flask_realtime.engine import EngineOptions
from flask_realtime.runtime.http.server import Server
from support.server_thread import ServerThread

from .asgi_support import DEADLINE, EioClient, ErrorLog, Served, make_flask_app, start_served
from .engineio_support import FAST, QUIET, Serve
from .http_support import RecordingApp, ToyEndpoint
from .http_support import Serve as HttpServe
from .httpkit import RawHttpClient


@pytest.fixture
def http_server() -> Iterator[Callable[..., ServerThread]]:
    """Start a ``Server(**kwargs)`` on a free port in a ``ServerThread``; stopped after
    the test."""
    started: list[ServerThread] = []

    def start(**kwargs: Any) -> ServerThread:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("wsgi_app", None)
        thread = ServerThread(Server(**kwargs), grace=2.0)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in reversed(started):
        thread.stop()


@pytest.fixture
def http_client() -> Iterator[Callable[..., RawHttpClient]]:
    """Open ``RawHttpClient(port, **kwargs)`` sockets; closed after the test."""
    opened: list[RawHttpClient] = []

    def connect(port: int, **kwargs: Any) -> RawHttpClient:
        client = RawHttpClient(port, **kwargs)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


# -- the HTTP tests (test_http_*) --------------------------------------------------------


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def endpoint() -> ToyEndpoint:
    return ToyEndpoint()


@pytest.fixture
def server(http_server: HttpServe, app: RecordingApp, endpoint: ToyEndpoint) -> ServerThread:
    return http_server(wsgi_app=app, endpoint=endpoint)


# -- the ASGI tests (test_asgi_*; their modules use _no_server_errors) ------------------


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    handler.check()


@pytest.fixture  # not autouse: the test_asgi_* modules ask for it in their pytestmark
def _no_server_errors(error_log: ErrorLog) -> Iterator[None]:
    """Fail the test if a server logged an error during it (or while stopping)."""
    yield
    error_log.check()


@pytest.fixture(scope="module")
def quiet(error_log: ErrorLog) -> Iterator[Served]:
    """One server for the tests that need nothing special: default timing, a Flask app."""
    served = start_served(QUIET, wsgi_app=make_flask_app())
    yield served
    served.uv.stop()


@pytest.fixture(scope="module")
def fast(error_log: ErrorLog) -> Iterator[Served]:
    """One server with 0.3 s / 0.2 s heartbeats."""
    served = start_served(FAST)
    yield served
    served.uv.stop()


@pytest.fixture
def serve(error_log: ErrorLog) -> Iterator[Serve]:
    """``serve(options=QUIET, **asgi_kwargs)``: a server of the test's own, stopped after."""
    started: list[Served] = []

    def start(options: EngineOptions = QUIET, **kwargs: Any) -> Served:
        served = start_served(options, **kwargs)
        started.append(served)
        return served

    yield start
    for served in reversed(started):
        served.uv.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., EioClient]]:
    """``connect(served, transports)``: a connected python-engineio client, closed after."""
    made: list[EioClient] = []

    def make(served: Served, transports: list[str] | None) -> EioClient:
        client = EioClient()
        made.append(client)
        client.connect(served.url, transports=transports, engineio_path=served.engine.options.path)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def raw_ws() -> Iterator[Callable[..., websocket.WebSocket]]:
    """``raw_ws(url, **kwargs)``: a websocket-client connection, closed after the test."""
    made: list[websocket.WebSocket] = []

    def make(url: str, **kwargs: Any) -> websocket.WebSocket:
        ws = websocket.create_connection(url, timeout=DEADLINE, **kwargs)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.close(timeout=1.0)  # a no-op once the server's close frame was read ...
        ws.shutdown()  # ... so the socket itself is closed here
