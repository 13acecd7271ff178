"""The official socket.io-client (npm 4.8, its browser build) in Chromium, against our server.

The contract app is served with two more routes: the client's own ``dist/socket.io.min.js``
from ``tests/interop/node_modules`` (installed by ``make setup``), and the test page with
that script in place of ours. Everything else is the contract of ``conftest.py``. Each
test runs over WebSocket, long-polling, and polling upgraded to WebSocket, and checks the
transport the client ended on, so each is really exercised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Response, abort

from .client_support import TRANSPORTS
from .contract_app import PAGE, create_app
from .live_server import LiveServer

pytestmark = pytest.mark.e2e

OFFICIAL_DIST = (
    Path(__file__).resolve().parents[1]
    / "interop"
    / "node_modules"
    / "socket.io-client"
    / "dist"
    / "socket.io.min.js"
)
OFFICIAL_SCRIPT = "/__e2e__/official/socket.io.min.js"
OFFICIAL_PAGE = "/__e2e__/official.html"
OUR_SCRIPT_TAG = '<script src="/socket.io/socket.io.js"></script>'
READY = "typeof io === 'function' && typeof e2e === 'object' && typeof io.Manager === 'function'"


@pytest.fixture(scope="module")
def official_server() -> Iterator[str]:
    """The contract app, also serving the official client and a page that loads it."""
    if not OFFICIAL_DIST.exists():
        pytest.fail(f"{OFFICIAL_DIST} is missing: run make setup (npm ci in tests/interop)")
    app, socketio = create_app()
    page = PAGE.read_text("utf-8")
    assert OUR_SCRIPT_TAG in page, "the test page no longer loads our client as expected"
    official_page = page.replace(OUR_SCRIPT_TAG, f'<script src="{OFFICIAL_SCRIPT}"></script>')

    @app.get(OFFICIAL_SCRIPT)
    def official_script() -> Response:
        if not OFFICIAL_DIST.exists():
            abort(404)
        return Response(OFFICIAL_DIST.read_bytes(), mimetype="text/javascript")

    @app.get(OFFICIAL_PAGE)
    def official_page_view() -> Response:
        return Response(official_page, mimetype="text/html")

    with LiveServer(app, socketio) as server:
        yield server.url


@pytest.fixture
def official_page(open_page: Any, official_server: str) -> Any:
    page = open_page(official_server + OFFICIAL_PAGE, READY)
    # The page runs the official client, not ours.
    sources = page.evaluate("() => Array.from(document.scripts, (s) => s.src).filter(Boolean)")
    assert [source.removeprefix(official_server) for source in sources] == [OFFICIAL_SCRIPT]
    return page


@pytest.mark.parametrize("transports", list(TRANSPORTS))
def test_connect_echo_and_acks(official_page: Any, transports: str) -> None:
    result = official_page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true, auth: { token: "ok" } });
            if (transports.length > 1 && s.io.engine.transport.name !== "websocket") {
                await e2e.next(s.io.engine, "upgrade");
            }
            const echoed = e2e.next(s, "echo");
            s.emit("echo", "text", { n: 1 }, new Uint8Array([0, 1, 255]));
            const echo = await echoed;
            const [me] = await e2e.ack((cb) => s.emit("whoami", cb));
            const acked = await e2e.ack((cb) => s.emit("ack", [1, 2], new Uint8Array([9]), cb));
            const answered = e2e.next(s, "answer");
            s.once("question", (data, cb) => cb(data, "from the official client"));
            s.emit("ask", "are you there?");
            const [answer] = await answered;
            const result = {
                id: s.id, transport: s.io.engine.transport.name,
                echo: e2e.describe(echo), me, acked: e2e.describe(acked), answer,
            };
            s.disconnect();
            return result;
        }""",
        TRANSPORTS[transports],
    )
    assert result["transport"] == ("polling" if transports == "polling" else "websocket")
    # The server's request.sid is the client's id, and it saw the client's auth.
    assert result["me"]["sid"] == result["id"]
    assert result["me"]["auth"] == {"token": "ok"}
    assert result["echo"] == ["text", {"n": 1}, {"binary": "ArrayBuffer", "bytes": [0, 1, 255]}]
    assert result["acked"] == [[1, 2], {"binary": "ArrayBuffer", "bytes": [9]}]
    assert result["answer"] == ["are you there?", "from the official client"]


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_refused_connect_and_namespaces(official_page: Any, transports: str) -> None:
    result = official_page.evaluate(
        """async (transports) => {
            const refused = io({ transports, forceNew: true, reconnection: false,
                                 auth: { token: "bad" } });
            const [error] = await e2e.next(refused, "connect_error");
            const manager = new io.Manager({ transports });
            const root = manager.socket("/");
            const chat = manager.socket("/chat");
            await Promise.all([e2e.next(root, "connect"), e2e.next(chat, "connect")]);
            const [where] = await e2e.ack((cb) => chat.emit("whereami", cb));
            const result = {
                error: { message: error.message, data: error.data },
                where, oneEngine: root.io.engine === chat.io.engine,
                transport: manager.engine.transport.name,
            };
            root.disconnect();
            chat.disconnect();
            return result;
        }""",
        TRANSPORTS[transports],
    )
    assert result == {
        "error": {"message": "unauthorized", "data": {"code": 4001}},
        "where": "/chat",
        "oneEngine": True,
        "transport": transports,
    }


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_broadcast_reaches_another_page(
    official_page: Any, open_page: Any, official_server: str, transports: str
) -> None:
    other = open_page(official_server + OFFICIAL_PAGE, READY)
    script = """async (transports) => {
        window.s = await e2e.connect({ transports, forceNew: true });
        window.got = e2e.next(s, "broadcast", 5000);
        return s.io.engine.transport.name;
    }"""
    assert official_page.evaluate(script, TRANSPORTS[transports]) == transports
    assert other.evaluate(script, TRANSPORTS[transports]) == transports
    payload = json.dumps({"from": "first page"})
    official_page.evaluate("(payload) => s.emit('broadcast', JSON.parse(payload))", payload)
    for page in (official_page, other):
        assert page.evaluate("async () => (await got)[0]") == {"from": "first page"}
        page.evaluate("() => s.disconnect()")
