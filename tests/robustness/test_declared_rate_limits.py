"""``@rate_limit``: per-event rate limits declared on the handler, on a class-based
namespace's ``on_<event>`` method as on a decorated function (above or below
``@socketio.on``) and on ``@socketio.event``, seen by python-socketio's client.

How a drop is seen without waiting for a timeout: one socket's calls are handled in the
order they arrive, so once the ack of an unlimited event sent after them has come, every
ack the limited ones were going to get has come too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from flask import Flask

from e2e.live_server import LiveServer
from flask_realtime import Namespace, SocketIO, rate_limit
from flask_realtime.exceptions import ConfigurationError

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10


class Chat(Namespace):
    @rate_limit("2/min")
    def on_say(self, text: str) -> str:
        return text

    def on_ping(self) -> str:  # no limit: the marker that the earlier ones were handled
        return "pong"


@pytest.fixture(scope="module")
def served() -> Iterator[LiveServer]:
    app = Flask("declared_rate_limits")
    sio = SocketIO(app)
    sio.on_namespace(Chat("/chat"))

    @sio.on("below")
    @rate_limit((2, 60))
    def below(n: int) -> int:
        return n

    @rate_limit("2 per 60s")
    @sio.on("above")
    def above(n: int) -> int:
        return n

    @sio.event
    @rate_limit("2/min")
    def plain(n: int) -> int:
        return n

    @sio.on("explicit", rate_limit="3/min")
    @rate_limit("1/min")  # the registration's own argument wins
    def explicit(n: int) -> int:
        return n

    @sio.on("ping")
    def ping() -> str:
        return "pong"

    with LiveServer(app, sio) as live:
        yield live


def acks_of(live: LiveServer, event: str, sends: int, namespace: str = "/") -> list[Any]:
    """Send ``event`` ``sends`` times from a fresh client; the acks that came."""
    client = socketio.Client(handle_sigint=False)
    acks: list[Any] = []
    lock = threading.Lock()

    def got(value: Any = None) -> None:
        with lock:
            acks.append(value)

    client.connect(live.url, namespaces=[namespace], wait_timeout=TIMEOUT)
    try:
        for n in range(sends):
            client.emit(event, "hi" if namespace != "/" else n, namespace=namespace, callback=got)
        assert client.call("ping", namespace=namespace, timeout=TIMEOUT) == "pong"
        with lock:
            return list(acks)
    finally:
        client.disconnect()


def test_a_namespace_method_declares_its_rate_limit(served: LiveServer) -> None:
    assert acks_of(served, "say", 4, "/chat") == ["hi", "hi"]


def test_the_decorator_works_below_and_above_socketio_on(served: LiveServer) -> None:
    assert acks_of(served, "below", 4) == [0, 1]
    assert acks_of(served, "above", 4) == [0, 1]


def test_the_decorator_works_with_socketio_event(served: LiveServer) -> None:
    assert acks_of(served, "plain", 3) == [0, 1]


def test_a_rate_limit_given_to_the_registration_wins(served: LiveServer) -> None:
    assert acks_of(served, "explicit", 5) == [0, 1, 2]


def test_the_limit_is_per_connection(served: LiveServer) -> None:
    # each fresh client gets its own allowance
    assert acks_of(served, "say", 2, "/chat") == ["hi", "hi"]
    assert acks_of(served, "say", 2, "/chat") == ["hi", "hi"]


def test_a_bad_rate_fails_where_it_is_declared() -> None:
    with pytest.raises(ConfigurationError, match="5/s"):
        rate_limit("fast")
    with pytest.raises(ConfigurationError, match="positive"):
        rate_limit((0, 1))
