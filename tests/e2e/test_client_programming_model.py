"""Our browser client in Chromium against Node's programming model on the server
(the app of ``tests/interop/features_app.py``): a middleware's refusal with its data, the
event middleware's answer, ``socket_data``, and a typed event's error acknowledgement.

See client_support.py for how these tests run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import send_file

from interop.features_app import make_features_app
from support.recorder import Recorder

from .contract_app import PAGE, PAGE_PATH, PAGE_READY
from .live_server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def features_url() -> Iterator[str]:
    app, socketio = make_features_app(Recorder())

    @app.get(PAGE_PATH)
    def client_page() -> Any:
        return send_file(PAGE, mimetype="text/html")

    with LiveServer(app, socketio) as server:
        yield server.url


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_a_middlewares_refusal_reaches_connect_error_with_its_data(
    open_page: Any, features_url: str, transports: list[str]
) -> None:
    page = open_page(features_url + PAGE_PATH, PAGE_READY)
    result = page.evaluate(
        """async (transports) => {
            const s = io({ forceNew: true, reconnection: false, transports,
                           auth: { token: "forged" } });
            const [err] = await e2e.next(s, "connect_error");
            const result = { message: err.message, data: err.data, connected: s.connected,
                             active: s.active };
            s.close();
            return result;
        }""",
        transports,
    )
    assert result == {
        "message": "unauthorized",
        "data": {"code": 401, "token": "forged"},
        "connected": False,
        "active": False,
    }
    assert page.errors == []


def test_socket_data_event_middleware_and_typed_events(open_page: Any, features_url: str) -> None:
    page = open_page(features_url + PAGE_PATH, PAGE_READY)
    result = page.evaluate(
        """async () => {
            const s = io({ forceNew: true, reconnection: false,
                           auth: { token: "good", user: "eve" } });
            await e2e.next(s, "connect");
            const ack = (...args) => e2e.ack((cb) => s.emit(...args, cb));
            const result = {
                before: await ack("whoami"),
                locked: await ack("join", "r"),
                unlocked: await ack("unlock"),
                after: await ack("whoami"),
                good: await ack("move", { x: 1, y: 2 }, { dx: 1, dy: 1 }),
                bad: await ack("move", { x: 1, y: 2 }, "far"),
            };
            s.disconnect();
            return result;
        }"""
    )
    assert result["before"] == [{"user": "eve"}]
    assert result["locked"] == [{"refused": "join is locked"}]
    assert result["unlocked"] == [True]
    assert result["after"] == [{"user": "eve", "ok": True}]
    assert result["good"] == [{"sum": [2, 3], "kinds": ["Point", "Step"]}]
    (bad,) = result["bad"]
    assert bad["error"] == "invalid arguments for 'move': step"
    assert [d["loc"] for d in bad["details"]] == [["step"]]
    assert page.errors == []
