"""``ASGIApp`` under a real uvicorn, real clients over 127.0.0.1: python-engineio's client for
the transports, the upgrade and heartbeats."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.waiting import wait_until

from .asgi_support import EioClient, Served
from .engineio_support import handshake

pytestmark = pytest.mark.usefixtures("_no_server_errors")


MESSAGES: list[str | bytes] = [
    "hello",
    "h\u00e9llo \u2603",
    b"\x00\x01\xfe\xff",
    b"bin",
    "x" * 3000,
]


def round_trip(client: EioClient, served: Served, transport: str) -> None:
    """Every message of MESSAGES comes back; the server saw them, in order, on ``transport``."""
    for message in MESSAGES:
        client.send(message)
    # python-engineio calls the message handler in a new thread per message, so the
    # order of arrival at the client is not the wire order; the server's record is.
    assert sorted(client.next_messages(len(MESSAGES)), key=repr) == sorted(MESSAGES, key=repr)
    seen = served.handler.wait_for_events("message", client.sid, count=len(MESSAGES))
    assert [(s.data, s.transport) for s in seen] == [(m, transport) for m in MESSAGES]


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_client_on_one_transport(
    quiet: Served, connect: Callable[..., EioClient], transport: str
) -> None:
    served = quiet
    client = connect(served, [transport])
    assert client.transport() == transport
    (opened,) = served.handler.wait_for_events("open", client.sid)
    assert opened.transport == transport
    round_trip(client, served, transport)


def test_client_upgrades_from_polling(quiet: Served, connect: Callable[..., EioClient]) -> None:
    served = quiet
    client = connect(served, None)
    assert client.transport() == "websocket"
    (opened,) = served.handler.wait_for_events("open", client.sid)
    assert opened.transport == "polling"
    wait_until(lambda: served.transport_of(client.sid) == "websocket", what="the upgrade")
    round_trip(client, served, "websocket")


def test_client_disconnect_closes_the_session(
    quiet: Served, connect: Callable[..., EioClient]
) -> None:
    served = quiet
    client = connect(served, ["polling"])
    sid = client.sid
    client.disconnect()
    assert served.handler.close_reason(sid) == "client disconnect"
    assert not served.alive(sid)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_heartbeats_keep_the_client_connected(
    fast: Served, connect: Callable[..., EioClient], transport: str
) -> None:
    served = fast
    client = connect(served, [transport])
    assert client.ping_interval == 0.3
    assert client.ping_timeout == 0.2
    # Three pings answered: 0.9 s, well past interval + timeout (0.5 s).
    wait_until(lambda: client.pings >= 3, what="three pings from the server")
    assert served.handler.events("close", client.sid) == []
    assert served.alive(client.sid)
    assert not client.disconnected.is_set()
    client.send("still here")
    assert client.next_messages(1) == ["still here"]


def test_a_silent_client_is_closed_by_ping_timeout(fast: Served) -> None:
    served = fast
    sid = handshake(served)["sid"]  # and never poll again: no pong can come back
    assert served.handler.close_reason(sid) == "ping timeout"
    assert not served.alive(sid)
