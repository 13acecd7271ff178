"""A client's wrong argument count: the handler is not called, the log gets one line.

Over a real connection (python-socketio), as any client could send it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio as python_socketio
from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.server import handler_call

pytestmark = pytest.mark.interop

TIMEOUT = 10


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Any]]]:
    # The log of client mistakes is throttled per (namespace, event) for the process: an
    # earlier test's mistake with the same event must not silence this test's one line.
    monkeypatch.setattr(handler_call, "_last_client_error", {})
    app = Flask("mistakes")
    socketio = SocketIO(app)
    calls: list[Any] = []

    @socketio.on("one")
    def one(value: Any) -> Any:
        calls.append(value)
        return value

    @socketio.on("checked", namespace="/checked")
    def checked(a: Any, b: Any = None) -> Any:
        return [a, b]

    @socketio.on_error("/checked")
    def on_error(exc: Exception) -> Any:
        return {"error": type(exc).__name__, "is_type_error": isinstance(exc, TypeError)}

    thread = threading.Thread(
        target=socketio.run, args=(app,), kwargs={"port": 0, "use_reloader": False}, daemon=True
    )
    thread.start()
    host = socketio.service_for(app).host
    assert host.started.wait(TIMEOUT)
    assert host.server is not None
    try:
        yield host.server.url, calls
    finally:
        socketio.stop()
        thread.join(TIMEOUT)


def test_wrong_argument_counts_are_one_log_line_and_no_call(
    served: tuple[str, list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    url, calls = served
    caplog.set_level(logging.INFO, logger="flask_realtime")
    client = python_socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"])
    try:
        for _ in range(50):
            client.emit("one")  # no argument: the handler takes one
            client.emit("one", (1, 2))  # two arguments
        # A later good event proves the earlier ones were processed.
        assert client.call("one", "fine", timeout=TIMEOUT) == "fine"
    finally:
        client.disconnect()
    assert calls == ["fine"]
    lines = [r.getMessage() for r in caplog.records if "'one'" in r.getMessage()]
    assert len(lines) == 1, lines  # rate-limited: one line for the hundred mistakes
    assert "sent 0 arguments; the handler takes 1" in lines[0]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback


def test_an_error_handler_sees_the_mistake_as_a_type_error(
    served: tuple[str, list[Any]],
) -> None:
    url, _ = served
    client = python_socketio.Client(reconnection=False)
    client.connect(url, namespaces=["/checked"], transports=["websocket"])
    try:
        assert client.call("checked", 1, namespace="/checked", timeout=TIMEOUT) == [1, None]
        answer = client.call("checked", (1, 2, 3), namespace="/checked", timeout=TIMEOUT)
    finally:
        client.disconnect()
    assert answer == {"error": "ClientArgumentsError", "is_type_error": True}
