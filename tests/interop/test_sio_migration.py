"""What migrated Flask-SocketIO apps rely on, over a real connection (python-socketio).

A ``Namespace`` whose ``trigger_event`` override gets ``(event, sid, *args)``, and a
``def`` handler that waits for the callback of its own emit to the same client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio as python_socketio
from flask import Flask, request

from flask_realtime import Namespace, SocketIO, emit

pytestmark = pytest.mark.interop

TIMEOUT = 10


class Router(Namespace):
    def trigger_event(self, event: str, sid: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return None
        return [event, sid == request.sid, list(args)]


def make_app() -> tuple[Flask, SocketIO]:
    app = Flask("migration")
    socketio = SocketIO(app)
    socketio.on_namespace(Router("/router"))

    @socketio.on("ask-and-wait")
    def ask_and_wait() -> Any:
        answered = threading.Event()
        answer: list[Any] = []

        def on_answer(*args: Any) -> None:
            answer.extend(args)
            answered.set()

        emit("question", "what is six times seven?", callback=on_answer)
        if not answered.wait(TIMEOUT):  # the callback runs outside this client's queue
            return "no answer"
        return answer[0]

    return app, socketio


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    app, socketio = make_app()
    thread = threading.Thread(
        target=socketio.run, args=(app,), kwargs={"port": 0, "use_reloader": False}, daemon=True
    )
    thread.start()
    host = socketio.service_for(app).host
    assert host.started.wait(TIMEOUT), "the server did not start"
    assert host.server is not None
    try:
        yield host.server.url
    finally:
        socketio.stop()
        thread.join(TIMEOUT)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_trigger_event_override_and_waiting_for_an_own_callback(url: str, transport: str) -> None:
    client = python_socketio.Client(reconnection=False)

    @client.on("question")
    def question(text: str) -> int:
        return 42 if "six times seven" in text else 0

    client.connect(url, namespaces=["/", "/router"], transports=[transport])
    try:
        assert client.call("ask-and-wait", timeout=TIMEOUT) == 42
        assert client.call("anything", 1, namespace="/router", timeout=TIMEOUT) == [
            "anything",
            True,
            [1],
        ]
    finally:
        client.disconnect()
