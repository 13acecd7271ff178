"""``engineio_logger=True`` over a real connection: each packet in and each message out."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import socketio as python_socketio

from .sio_app import SioServer

pytestmark = pytest.mark.interop


@pytest.fixture
def logged_server() -> Iterator[tuple[SioServer, list[str]]]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    target = logging.getLogger("test.realtime.packets")
    target.addHandler(Collect())
    engine_logger = logging.getLogger("flask_realtime.engine")
    level, handlers = engine_logger.level, list(engine_logger.handlers)
    server = SioServer(engineio_logger=target).start()
    try:
        yield server, lines
    finally:
        server.stop()
        engine_logger.setLevel(level)
        engine_logger.handlers[:] = handlers


def test_engineio_logger_logs_packets_both_ways(
    logged_server: tuple[SioServer, list[str]],
) -> None:
    server, lines = logged_server
    client = python_socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"])
    try:
        assert client.call("echo", "ping", timeout=10) == "ping"
        eio_sid = client.eio.sid
    finally:
        client.disconnect()
    assert any(
        line.startswith(f"{eio_sid}: received packet MESSAGE data 2") and '"echo"' in line
        for line in lines
    ), lines
    assert any(
        line.startswith(f"{eio_sid}: sending packet MESSAGE data 3") and "ping" in line
        for line in lines
    ), lines
