"""Misspelt keyword arguments name the closest valid one."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO, emit
from flask_realtime.binding.kwargs import suggest_keywords
from flask_realtime.exceptions import ConfigurationError


def test_socketio_emit_suggests_the_closest_keyword() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)
    with app.app_context(), pytest.raises(ConfigurationError, match="did you mean broadcast"):
        socketio.emit("x", 1, brodcast=True)  # type: ignore[call-arg]


def test_emit_in_a_handler_suggests_the_closest_keyword() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app)

    @socketio.on("go")
    def go() -> None:
        emit("x", 1, include_slef=False)  # type: ignore[call-arg]

    client = socketio.test_client(app)
    try:
        with pytest.raises(ConfigurationError, match="did you mean include_self"):
            client.emit("go")
    finally:
        client.disconnect()


def test_a_type_error_from_inside_the_function_is_not_rewritten() -> None:
    @suggest_keywords
    def f(*, a: int = 0) -> Any:
        return len(a)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="has no len") as info:
        f(a=1)
    assert not isinstance(info.value, ConfigurationError)


def test_a_good_call_passes_through() -> None:
    @suggest_keywords
    def f(x: int, *, scale: int = 1) -> int:
        return x * scale

    assert f(2, scale=3) == 6
    with pytest.raises(ConfigurationError, match=r"f\(\) got an unknown argument 'sacle'"):
        f(2, sacle=3)  # type: ignore[call-arg]
