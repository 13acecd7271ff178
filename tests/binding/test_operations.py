"""Operations: what a handler's emit handed to the loop reports when it fails there."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO, emit


def test_a_def_handlers_reply_that_fails_on_the_loop_is_logged_and_raised_in_the_test(
    flask_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # The reply is encoded in the worker thread and written on the loop (send_encoded);
    # a failure there names the handler that emitted, and the test client raises it.
    socketio = SocketIO(flask_app)

    @socketio.on("shout")
    def shout(data: Any) -> None:
        emit("echo", data)

    client = socketio.test_client(flask_app)
    server = socketio.service_for(flask_app).server

    def broken(*args: Any) -> None:
        raise RuntimeError("the write failed")

    server.send_encoded = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="the write failed"):
        client.emit("shout", 1)
    assert "send_encoded() from the handler of 'shout'" in caplog.text
    assert client.get_received() == []
