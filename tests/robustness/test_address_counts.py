"""``max_connections_per_address`` against a running server: every way a session ends
gives its slot back (a client's close, a ping timeout, an upgrade, an aborted upgrade or
handshake, the server's shutdown). With a cap of one, each path is followed by a new
session from the same address, which a leaked count would refuse with 429."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
import websocket
from flask import Flask

from e2e.live_server import LiveServer
from flask_realtime import SocketIO
from support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def live() -> Iterator[LiveServer]:
    app = Flask("address_counts")
    sio = SocketIO(app, max_connections_per_address=1, ping_interval=0.2, ping_timeout=0.3)
    with LiveServer(app, sio) as served:
        yield served


def polling(live: LiveServer) -> tuple[requests.Session, str] | None:
    """A new polling session (its HTTP session and sid), or None when refused."""
    http = requests.Session()
    response = http.get(f"{live.url}/socket.io/?EIO=4&transport=polling", timeout=5)
    if response.status_code != 200:
        assert response.status_code == 429, response.text
        return None
    return http, json.loads(response.text[1:])["sid"]


def close_polling(live: LiveServer, http: requests.Session, sid: str) -> None:
    url = f"{live.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert http.post(url, data="1", timeout=5).text == "ok"


def slot_is_free(live: LiveServer) -> bool:
    """Whether a new session is accepted (it is closed at once: a client's close)."""
    opened = polling(live)
    if opened is None:
        return False
    close_polling(live, *opened)
    return True


def wait_free(live: LiveServer, what: str) -> None:
    wait_until(lambda: slot_is_free(live), 5, f"the slot given back after {what}")


def test_ipv6_clients_of_one_prefix_share_a_slot() -> None:
    """Behind a trusted proxy, the forwarded IPv6 address counts per /64 (the default)."""
    app = Flask("address_counts_v6")
    sio = SocketIO(app, max_connections_per_address=1, trust_forwarded_headers=True)
    url = "/socket.io/?EIO=4&transport=polling"

    def handshake(served: LiveServer, address: str) -> int:
        headers = {"X-Forwarded-For": address}
        return requests.get(served.url + url, headers=headers, timeout=5).status_code

    with LiveServer(app, sio) as served:
        assert handshake(served, "2001:db8:1:2::1") == 200
        assert handshake(served, "2001:db8:1:2::9:1") == 429  # another address, same /64
        assert handshake(served, "2001:db8:1:3::1") == 200  # another /64


def ws_url(live: LiveServer, sid: str | None = None) -> str:
    url = live.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    return url + (f"&sid={sid}" if sid else "")


def test_the_cap_holds_and_a_client_close_frees_it(live: LiveServer) -> None:
    opened = polling(live)
    assert opened is not None
    assert polling(live) is None  # one address, one session
    close_polling(live, *opened)
    wait_free(live, "a client's close")


def test_an_abandoned_polling_session_frees_it_on_ping_timeout(live: LiveServer) -> None:
    assert polling(live) is not None  # never polled again
    wait_free(live, "a ping timeout")


def test_an_upgraded_session_frees_it_when_the_websocket_drops(live: LiveServer) -> None:
    opened = polling(live)
    assert opened is not None
    ws = websocket.create_connection(ws_url(live, opened[1]), timeout=5)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    ws.send("5")
    assert polling(live) is None  # still one session, on WebSocket now
    ws.sock.close()  # no close frame: a transport close
    wait_free(live, "an upgraded session's transport close")


def test_an_aborted_upgrade_frees_it_with_its_session(live: LiveServer) -> None:
    opened = polling(live)
    assert opened is not None
    ws = websocket.create_connection(ws_url(live, opened[1]), timeout=5)
    ws.send("2probe")
    assert ws.recv() == "3probe"
    ws.sock.close()  # the probe's WebSocket goes away before "5"
    close_polling(live, *opened)
    wait_free(live, "an aborted upgrade")


def test_a_websocket_session_frees_it_when_it_drops(live: LiveServer) -> None:
    ws = websocket.create_connection(ws_url(live), timeout=5)
    assert ws.recv().startswith("0")
    assert polling(live) is None
    ws.sock.close()
    wait_free(live, "a WebSocket session's transport close")


def test_an_upgrade_request_dropped_before_its_answer_leaks_nothing(live: LiveServer) -> None:
    for _ in range(5):
        raw = socket.create_connection(("127.0.0.1", live.port), timeout=5)
        raw.sendall(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        raw.close()
    wait_free(live, "handshakes dropped mid-way")


def test_the_server_shutdown_frees_it(live: LiveServer) -> None:
    ws = websocket.create_connection(ws_url(live), timeout=5)
    assert ws.recv().startswith("0")
    held = polling(live)
    assert held is None
    live.restart()
    ws.close()
    wait_free(live, "a restart")
