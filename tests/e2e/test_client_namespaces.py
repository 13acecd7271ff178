"""Our browser client in Chromium: namespaces, and what a namespace connect carries (auth,
query, headers) or is refused with.

See client_support.py for how these tests run (and conftest.py for the page and server).
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_namespaces_share_one_connection(page: Any) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    result = page.evaluate(
        """async () => {
            const root = await e2e.connect({ transports: ["websocket"] });
            const chat = await e2e.connect("/chat");
            const shared = root.io === chat.io;
            const where = await chat.emitWithAck("whereami");
            const got = e2e.next(chat, "echo");
            chat.emit("echo", "in chat");
            const [echoed] = await got;
            chat.disconnect();
            const stillOpen = root.io.engine.readyState === "open" && root.connected;
            const rootEcho = e2e.next(root, "echo");
            root.emit("echo", "root");
            const [rootEchoed] = await rootEcho;
            const again = io("/chat", { autoConnect: false });
            const forced = io({ forceNew: true, autoConnect: false });
            const unmultiplexed = io("/chat2", { multiplex: false, autoConnect: false });
            const engineClosed = e2e.next(root.io.engine, "close");
            root.disconnect();
            const [closed] = await engineClosed;
            return {
                shared, where, echoed, stillOpen, rootEchoed,
                nsp: chat.nsp,
                againNew: again.io !== root.io, forcedNew: forced.io !== root.io,
                unmultiplexedNew: unmultiplexed.io !== root.io,
                closed,
            };
        }"""
    )
    assert result == {
        "shared": True,
        "where": "/chat",
        "echoed": "in chat",
        "stillOpen": True,
        "rootEchoed": "root",
        "nsp": "/chat",
        "againNew": True,
        "forcedNew": True,
        "unmultiplexedNew": True,
        "closed": "forced close",
    }
    assert len(sockets) == 1, "both namespaces should share one WebSocket"


def test_auth_query_and_extra_headers(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const a = await e2e.connect({ forceNew: true, auth: { token: "good", user: "ann" },
                                          query: { foo: "bar" } });
            const whoA = await a.emitWithAck("whoami");
            const b = await e2e.connect("/?room=7", {
                forceNew: true, transports: ["polling"], extraHeaders: { "X-E2E": "yes" },
                auth: (cb) => setTimeout(() => cb({ token: "from a function" }), 10),
            });
            const whoB = await b.emitWithAck("whoami");
            const result = { whoA, whoB, idA: a.id, idB: b.id };
            a.disconnect();
            b.disconnect();
            return result;
        }"""
    )
    who_a, who_b = result["whoA"], result["whoB"]
    assert who_a["sid"] == result["idA"]
    assert who_a["auth"] == {"token": "good", "user": "ann"}
    assert who_a["query"]["foo"] == "bar"
    assert who_b["sid"] == result["idB"]
    assert who_b["auth"] == {"token": "from a function"}
    assert who_b["query"]["room"] == "7"
    assert who_b["header"] == "yes"


def test_connect_error_carries_data_and_stops(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = io({ forceNew: true, auth: { token: "bad" } });
            const [err] = await e2e.next(s, "connect_error");
            const refused = {
                message: err.message, data: err.data, active: s.active, connected: s.connected,
                reconnecting: s.io._reconnecting,
            };
            s.auth = { token: "good" };
            const back = e2e.next(s, "connect");
            s.connect();
            await back;
            s.disconnect();
            return refused;
        }"""
    )
    assert result == {
        "message": "unauthorized",
        "data": {"code": 4001},
        "active": False,
        "connected": False,
        "reconnecting": False,
    }
