"""Our browser client in Chromium: disconnects, reconnection, heartbeats and buffering.

See client_support.py for how these tests run (and conftest.py for the page and server).
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from .client_support import SOCKET_IO_URL, TRANSPORTS
from .conftest import OpenPage
from .contract_app import PAGE_PATH, PAGE_READY
from .live_server import LiveServer

pytestmark = pytest.mark.e2e

TRANSPORT_LOST = {"transport close", "transport error"}
"""The disconnect reasons after which the client reconnects by itself."""


def test_server_disconnect_is_final_until_connect(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            const gone = e2e.next(s, "disconnect");
            s.emit("disconnect_me");
            const [reason] = await gone;
            const after = {
                reason, active: s.active, connected: s.connected, id: s.id === undefined,
                reconnecting: s.io._reconnecting,
            };
            const back = e2e.next(s, "connect");
            s.connect();
            await back;
            after.back = s.connected;
            s.disconnect();
            return after;
        }"""
    )
    assert result == {
        "reason": "io server disconnect",
        "active": False,
        "connected": False,
        "id": True,
        "reconnecting": False,
        "back": True,
    }


def test_client_disconnect_closes_and_reconnects_on_demand(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            const firstId = s.id;
            const closed = e2e.next(s.io, "close");
            const gone = e2e.next(s, "disconnect");
            s.close();
            const [reason] = await gone;
            const [managerReason] = await closed;
            const state = { reason, managerReason, active: s.active, connected: s.connected };
            const back = e2e.next(s, "connect");
            s.open();
            await back;
            state.newId = s.id !== firstId;
            s.disconnect();
            return state;
        }"""
    )
    assert result == {
        "reason": "io client disconnect",
        "managerReason": "forced close",
        "active": False,
        "connected": False,
        "newId": True,
    }


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_reconnects_after_transport_close_and_flushes_buffer(page: Any, transport: str) -> None:
    result = page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true, reconnectionDelay: 100,
                                          reconnectionDelayMax: 200 });
            const firstId = s.id;
            const attempts = [];
            s.io.on("reconnect_attempt", (n) => attempts.push(n));
            const gone = e2e.next(s, "disconnect");
            const reconnected = e2e.next(s.io, "reconnect");
            s.emit("drop");
            const [reason] = await gone;
            const activeWhileDown = s.active;
            s.volatile.emit("echo", "volatile");  // dropped: not connected
            s.emit("echo", "buffered");            // sent once reconnected
            const echoed = e2e.next(s, "echo");
            const back = e2e.next(s, "connect");
            const [attempt] = await reconnected;
            await back;
            const [value] = await echoed;
            const newId = s.id !== firstId;
            const result = { reason, activeWhileDown, attempt, attempts, value, newId };
            s.disconnect();
            return result;
        }""",
        TRANSPORTS[transport],
    )
    assert result == {
        "reason": "transport close",
        "activeWhileDown": True,
        "attempt": 1,
        "attempts": [1],
        "value": "buffered",
        "newId": True,
    }


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_reconnects_after_server_restart(
    contract_server: LiveServer, open_page: OpenPage, transport: str
) -> None:
    page = open_page(contract_server.url + PAGE_PATH, PAGE_READY)
    first_id = page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true, reconnectionDelay: 100,
                                          reconnectionDelayMax: 300 });
            const reasons = [];
            s.on("disconnect", (reason) => reasons.push(reason));
            // Set up now, awaited after the restart (the deadline covers the restart).
            const reconnected = e2e.next(s.io, "reconnect", 20000);
            reconnected.catch(() => {});  // reported when awaited
            window.restart = { s, reasons, reconnected };
            return s.id;
        }""",
        TRANSPORTS[transport],
    )
    contract_server.restart()  # a graceful stop, then the same port again
    result = page.evaluate(
        """async () => {
            const { s, reasons, reconnected } = window.restart;
            const [attempts] = await reconnected;
            const got = e2e.next(s, "echo");
            s.emit("echo", "after restart");
            const [value] = await got;
            return {
                reasons, attempts: attempts >= 1, id: s.id, value, connected: s.connected,
                transport: s.io.engine.transport.name,
            };
        }"""
    )
    # The client must see the transport lost (so it reconnects by itself), never "io server
    # disconnect". A long-polling client whose GET is parked hears the Engine.IO CLOSE
    # ("transport close"); one caught between two GETs (a ping had just been answered) only
    # learns it from its next request failing ("transport error").
    expected = {"transport close"} if transport == "websocket" else TRANSPORT_LOST
    assert len(result["reasons"]) == 1
    assert result["reasons"][0] in expected, result
    assert result["attempts"] is True
    assert result["id"] != first_id
    assert result["value"] == "after restart"
    assert result["connected"] is True
    assert result["transport"] == transport


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_reconnection_gives_up_after_attempts(page: Any, transport: str) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    events = page.evaluate(
        """async ([url, transports]) => {
            const s = io(url, { transports, reconnectionAttempts: 2, reconnectionDelay: 50,
                                reconnectionDelayMax: 100 });
            const events = [];
            for (const name of ["reconnect_attempt", "reconnect_error", "reconnect_failed"]) {
                s.io.on(name, (x) => events.push(name + (typeof x === "number" ? " " + x : "")));
            }
            s.on("connect_error", () => events.push("connect_error"));
            await e2e.next(s.io, "reconnect_failed", 5000);
            return events;
        }""",
        [dead, TRANSPORTS[transport]],
    )
    assert events == [
        "connect_error",
        "reconnect_attempt 1",
        "connect_error",
        "reconnect_error",
        "reconnect_attempt 2",
        "connect_error",
        "reconnect_failed",
        "reconnect_error",
    ]


def test_ping_timeout_when_server_pings_stop(page: Any) -> None:
    # Between page and server: answer the server's pings here, and do not pass
    # them on, so the server stays content while the page hears no heartbeat.
    def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if message == "2":
                server.send("3")
            else:
                ws.send(message)

        server.on_message(from_server)
        ws.on_message(server.send)

    page.route_web_socket(re.compile(r"/socket\.io/\?"), relay)
    page.reload()  # so that the page's WebSocket is the routed one from the start
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ transports: ["websocket"], reconnection: false });
            const start = Date.now();
            const [reason] = await e2e.next(s, "disconnect", 8000);
            return { reason, elapsed: Date.now() - start };
        }"""
    )
    assert result["reason"] == "ping timeout"
    # pingInterval + pingTimeout = 3 s from the handshake
    assert 2000 <= result["elapsed"] <= 6000, result


def test_polling_writes_fit_max_payload(page: Any) -> None:
    posts: list[int] = []
    page.on(
        "request",
        lambda r: (
            posts.append(len(r.post_data_buffer or b""))
            if r.method == "POST" and SOCKET_IO_URL.search(r.url)
            else None
        ),
    )
    result = page.evaluate(
        """async () => {
            const s = io({ transports: ["polling"], forceNew: true, autoConnect: false });
            const chunk = "x".repeat(30000);
            for (let i = 0; i < 8; i++) s.emit("echo", i, chunk);  // 240 kB buffered while offline
            const all = e2e.collect(s, "echo", 8, 10000);
            s.connect();
            const got = await all;
            const result = { order: got.map((a) => a[0]), sizes: got.map((a) => a[1].length) };
            s.disconnect();
            return result;
        }"""
    )
    assert result == {"order": list(range(8)), "sizes": [30000] * 8}
    assert max(posts) <= 100000
    assert sum(size > 60000 for size in posts) >= 2, f"writes were not batched: {posts}"
