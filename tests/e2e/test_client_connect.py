"""Our browser client in Chromium: the builds it ships, connecting, and its transports.

See client_support.py for how these tests run (and conftest.py for the page and server).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .client_support import SOCKET_IO_URL

pytestmark = pytest.mark.e2e


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_classic_script_defines_global_io(page: Any) -> None:
    result = page.evaluate(
        """() => ({
            io: typeof io, Manager: typeof io.Manager, Socket: typeof io.Socket,
            self: io.io === io, connect: io.connect === io,
        })"""
    )
    assert result == {
        "io": "function",
        "Manager": "function",
        "Socket": "function",
        "self": True,
        "connect": True,
    }


def test_module_build_exports_io_manager_socket(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const m = await import("/socket.io/socket.io.esm.js");
            const s = m.io({ autoConnect: false });
            return {
                default: m.default === m.io, connect: m.connect === m.io,
                manager: s.io instanceof m.Manager, socket: s instanceof m.Socket,
                separate: m.io !== window.io,
            };
        }"""
    )
    assert result == dict.fromkeys(("default", "connect", "manager", "socket", "separate"), True)


def test_upgrade_from_polling_to_websocket(page: Any) -> None:
    polls: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if SOCKET_IO_URL.search(r.url) else None)
    page.on("websocket", lambda ws: sockets.append(ws.url))
    result = page.evaluate(
        """async () => {
            const s = io({ forceNew: true });
            const engine = s.io.engine;
            const first = engine.transport.name;
            const upgraded = e2e.next(engine, "upgrade");
            await e2e.next(s, "connect");
            const [transport] = await upgraded;
            const got = e2e.next(s, "echo");
            s.emit("echo", "after upgrade");
            const [echo] = await got;
            const result = {
                first, upgraded: transport.name, now: engine.transport.name, echo, sid: engine.id,
            };
            s.disconnect();
            return result;
        }"""
    )
    assert result["first"] == "polling"
    assert result["upgraded"] == result["now"] == "websocket"
    assert result["echo"] == "after upgrade"
    assert len(sockets) == 1
    ws_query = query_of(sockets[0])
    assert ws_query["EIO"] == ["4"]
    assert ws_query["transport"] == ["websocket"]
    assert ws_query["sid"] == [result["sid"]]
    assert polls, "no long-polling request was seen"
    stamps = []
    for url in polls:
        query = query_of(url)
        assert query["EIO"] == ["4"]
        assert query["transport"] == ["polling"]
        stamps += query["t"]
    assert len(stamps) == len(polls) == len(set(stamps)), "each poll needs its own t"


def test_websocket_only_never_polls(page: Any) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if SOCKET_IO_URL.search(r.url) else None)
    transport = page.evaluate(
        """async () => {
            const s = await e2e.connect({ transports: ["websocket"], forceNew: true });
            return s.io.engine.transport.name;
        }"""
    )
    assert transport == "websocket"
    assert polls == []


@pytest.mark.parametrize("options", [{"transports": ["polling"]}, {"upgrade": False}])
def test_polling_without_upgrade_answers_pings(page: Any, options: dict[str, Any]) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    result = page.evaluate(
        """async (options) => {
            const s = await e2e.connect({ ...options, forceNew: true });
            await e2e.collect(s.io, "ping", 2, 5000);  // the server pings every second
            return { transport: s.io.engine.transport.name, connected: s.connected };
        }""",
        options,
    )
    assert result == {"transport": "polling", "connected": True}
    assert sockets == []


def test_connect_timeout(page: Any) -> None:
    # Engine.IO requests are never answered, as if the server hung. (A failed request
    # would report "xhr poll error"; only the connect timer reports "timeout".)
    page.route(re.compile(r"/socket\.io/\?"), lambda route: None)
    message = page.evaluate(
        """async () => {
            const s = io({ transports: ["polling"], timeout: 300, reconnection: false });
            const [err] = await e2e.next(s, "connect_error", 3000);
            return err.message;
        }"""
    )
    assert message == "timeout"
