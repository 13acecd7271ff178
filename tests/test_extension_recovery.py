"""``connection_state_recovery`` on SocketIO: the option, its checks, and what handlers see
(``is_recovered()``). Recovering itself is tested against real clients cut at the TCP
level (``tests/interop/test_sio_recovery.py``, ``tests/e2e/test_client_recovery.py``)."""

from __future__ import annotations

import pytest

from extension_support import make_app
from flask_realtime import SocketIO, emit, is_recovered
from flask_realtime.exceptions import ConfigurationError, ContextError
from flask_realtime.server.recovery import RecoveryOptions


def test_the_option_reaches_the_server() -> None:
    app = make_app()
    socketio = SocketIO(app, connection_state_recovery={"max_disconnection_duration": 30})
    server = socketio.service_for(app).server
    assert server.recovery is not None
    assert server.recovery.options == RecoveryOptions(max_disconnection_duration=30)
    assert SocketIO(make_app()).service_for().server.recovery is None


def test_a_new_client_is_not_recovered_and_its_events_carry_an_offset() -> None:
    app = make_app()
    socketio = SocketIO(app, connection_state_recovery=True)

    @socketio.on("connect")
    def connect() -> None:
        emit("hello", is_recovered())

    client = socketio.test_client(app)
    (hello,) = client.get_received()
    recovered, offset = hello["args"]
    assert recovered is False
    assert isinstance(offset, str)


def test_recovery_with_a_message_queue_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="one server"):
        SocketIO(make_app(), message_queue="redis://127.0.0.1:1", connection_state_recovery=True)


def test_a_misspelt_setting_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="did you mean max_disconnection_duration"):
        SocketIO(make_app(), connection_state_recovery={"max_disconection_duration": 5})


def test_is_recovered_outside_a_handler_is_a_context_error() -> None:
    with pytest.raises(ContextError):
        is_recovered()
