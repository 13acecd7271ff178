"""EngineServer (engine/engine_server.py): check_websocket and close_all."""

from __future__ import annotations

from typing import Any

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    EngineResponse,
    OutgoingMessage,
    State,
)

from .helpers import Exchange, Harness

# -- check_websocket -----------------------------------------------------------------------


def test_check_websocket_new_session(h: Harness) -> None:
    assert h.server.check_websocket(h.request(transport="websocket")) is None


def test_check_websocket_for_an_upgrade_returns_the_session(h: Harness) -> None:
    socket = h.open()
    request = h.request(transport="websocket", sid=socket.sid)
    assert h.server.check_websocket(request) is socket


def _refusal(h: Harness, **kwargs: Any) -> tuple[int, int, str]:
    kwargs.setdefault("transport", "websocket")
    answer = h.server.check_websocket(h.request(**kwargs))
    assert isinstance(answer, EngineResponse)
    return Exchange(answer).error()


def test_check_websocket_refusals(h: Harness) -> None:
    assert _refusal(h, sid="nope") == (400, 1, "Session ID unknown")
    assert _refusal(h, eio="7")[:2] == (400, 5)
    assert _refusal(h, eio=None)[:2] == (400, 5)
    assert _refusal(h, headers={"origin": "http://evil.example"})[:2] == (403, 4)


def test_check_websocket_transport_mismatch(h: Harness) -> None:
    socket = h.open()
    assert _refusal(h, transport="polling", sid=socket.sid) == (400, 3, "Transport mismatch")
    assert socket.state is State.OPEN


# A session that cannot upgrade now is still returned: as Node does, the runtime accepts
# that WebSocket and closes it at once (it asks can_upgrade()).


def test_check_websocket_for_a_session_already_upgrading(h: Harness) -> None:
    socket = h.open()
    h.probe(socket)
    request = h.request(transport="websocket", sid=socket.sid)
    assert h.server.check_websocket(request) is socket
    assert not socket.can_upgrade()


def test_check_websocket_when_upgrades_are_off() -> None:
    h = Harness(EngineOptions(allow_upgrades=False))
    socket = h.open()
    request = h.request(transport="websocket", sid=socket.sid)
    assert h.server.check_websocket(request) is socket
    assert not socket.can_upgrade()
    # A new session directly on WebSocket is still allowed.
    assert h.server.check_websocket(h.request(transport="websocket")) is None


def test_check_websocket_when_websocket_is_not_served() -> None:
    h = Harness(EngineOptions(transports=("polling",)))
    socket = h.open()
    assert _refusal(h, sid=socket.sid) == (400, 0, "Transport unknown")
    assert _refusal(h) == (400, 0, "Transport unknown")


def test_check_websocket_for_sessions_that_cannot_upgrade(h: Harness) -> None:
    on_ws, _ = h.open_websocket()
    closing = h.open()
    closing.close()
    for socket in (on_ws, closing):
        request = h.request(transport="websocket", sid=socket.sid)
        assert h.server.check_websocket(request) is socket
        assert not socket.can_upgrade()


# -- close_all ---------------------------------------------------------------------------


def test_close_all(h: Harness) -> None:
    _, ws = h.open_websocket()
    parked_socket = h.open()
    parked = h.get(parked_socket)
    idle = h.open()
    idle.send(OutgoingMessage("bye"))
    ws.take()
    h.server.close_all()
    assert h.handler.closes() == [CloseReason.SERVER_SHUTDOWN] * 3
    assert ws.closes == [False]
    assert parked.body == b"1"
    assert idle.state is State.CLOSING
    assert list(h.server.sessions) == [idle.sid]
    assert h.get(idle).body == b"4bye\x1e1"
    assert h.server.sessions == {}
    h.server.close_all()
    assert len(h.handler.closes()) == 3
